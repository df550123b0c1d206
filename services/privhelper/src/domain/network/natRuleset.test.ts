import { describe, expect, it } from 'vitest';
import { parseCidr } from './cidr.js';
import { natFingerprint, renderNatRemoval, renderNatRuleset } from './natRuleset.js';

const cidr = parseCidr('172.30.0.0/24');

describe('renderNatRuleset', () => {
  it('replaces only banger\'s table, atomically', () => {
    const text = renderNatRuleset({ bridge: 'bgr-br0', cidr, uplink: 'eth0' });
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual(['table inet banger', 'delete table inet banger', 'table inet banger {']);
    expect(text).not.toMatch(/flush ruleset/);
    expect(text.match(/table (\S+) (\S+)/g)?.every((t) => t === 'table inet banger')).toBe(true);
    expect(text).toContain('ip saddr 172.30.0.0/24 ip daddr != 172.30.0.0/24 oifname "eth0" masquerade');
    expect(text).toContain('iifname "eth0" oifname "bgr-br0" ct state established,related accept');
    expect(text).toContain(`comment "${natFingerprint({ bridge: 'bgr-br0', cidr, uplink: 'eth0' })}"`);
  });
  it('without an uplink masquerades out of anything but the bridge', () => {
    const text = renderNatRuleset({ bridge: 'bgr-br0', cidr });
    expect(text).toContain('oifname != "bgr-br0" masquerade');
    expect(text).toContain('iifname != "bgr-br0" oifname "bgr-br0" drop');
  });
  it('refuses to quote anything that could escape a string', () => {
    expect(() => renderNatRuleset({ bridge: 'bgr-br0', cidr, uplink: 'eth0" accept' })).toThrow(/not allowed/);
  });
  it('fingerprints differ per plan', () => {
    expect(natFingerprint({ bridge: 'bgr-br0', cidr })).not.toBe(natFingerprint({ bridge: 'bgr-br0', cidr, uplink: 'eth0' }));
    expect(natFingerprint({ bridge: 'bgr-br0', cidr })).toMatch(/^banger:nat:[0-9a-f]{16}$/);
  });
  it('removal touches only banger\'s table', () => {
    expect(renderNatRemoval()).toBe('table inet banger\ndelete table inet banger\n');
  });
});
