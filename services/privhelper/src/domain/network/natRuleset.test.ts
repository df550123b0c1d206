import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseCidr } from './cidr.js';
import type { EgressPolicy } from './egressPolicy.js';
import { natFingerprint, renderAllowResolved, renderNatRemoval, renderNatRuleset, renderVmFence, renderVmUnfence } from './natRuleset.js';
import type { VmFence } from './vmFence.js';

const cidr = parseCidr('172.30.0.0/24');
const plan = { bridge: 'bgr-br0', cidr, uplink: 'eth0', tapPrefix: 'bgrtap' };
const anyUplink = { bridge: 'bgr-br0', cidr, tapPrefix: 'bgrtap' };
const allow: EgressPolicy = { mode: 'allow', cidrs: [], hostnames: [] };
const list: EgressPolicy = { mode: 'list', cidrs: ['10.1.0.0/16', '203.0.113.7/32'], hostnames: ['example.com'] };
const a: VmFence = { vmId: 'vm-a', tap: 'bgrtap0', ipv4: '172.30.0.2', mac: '02:bb:00:00:00:02', egress: allow };
const b: VmFence = { vmId: 'vm-b', tap: 'bgrtap1', ipv4: '172.30.0.3', mac: '02:bb:00:00:00:03', egress: list };

/** `nft -c` parses and checks against the kernel without committing anything; root only. */
function nftCheck(text: string): string | undefined {
  try {
    execFileSync('nft', ['-c', '-f', '-'], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
    return undefined;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err);
  }
}
const nftUsable = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

describe('renderNatRuleset', () => {
  it('replaces only banger\'s two tables, atomically', () => {
    const text = renderNatRuleset(plan);
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual(['table inet banger', 'delete table inet banger', 'table inet banger {']);
    expect(text).not.toMatch(/flush ruleset/);
    expect(new Set(text.match(/^table (\S+) (\S+)/gm))).toEqual(new Set(['table inet banger', 'table bridge banger']));
    expect(text).toContain('ip saddr 172.30.0.0/24 ip daddr != 172.30.0.0/24 oifname "eth0" masquerade');
    expect(text).toContain('iifname != "bgr-br0" oifname "bgr-br0" ct state established,related accept');
    expect(text).toContain(`comment "${natFingerprint(plan)}"`);
  });
  it('lets guests reach the host only for DNS on the gateway, scoped to the bridge', () => {
    const text = renderNatRuleset(plan);
    expect(text).toContain('iifname "bgr-br0" jump guest_to_host');
    expect(text).toMatch(/chain guest_to_host \{\n {4}ct state established,related accept\n {4}ip saddr 172\.30\.0\.0\/24 ip daddr 172\.30\.0\.1 udp dport 53 accept\n {4}ip saddr 172\.30\.0\.0\/24 ip daddr 172\.30\.0\.1 tcp dport 53 accept\n {4}drop\n/);
  });
  it('fences private, link-local, CGNAT, multicast, loopback and reserved ranges', () => {
    const text = renderNatRuleset(plan);
    for (const net of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10', '224.0.0.0/4', '240.0.0.0/4', '127.0.0.0/8', '0.0.0.0/8']) expect(text).toContain(net);
    expect(text).toMatch(/chain guest_out \{\n {4}oifname "bgr-br0" drop\n {4}ip saddr vmap @guest_policy\n {4}drop\n/);
  });
  it('pins taps at the link layer and never forwards frames between bridge ports of guests', () => {
    const text = renderNatRuleset(plan);
    expect(text).toContain('iifname "bgrtap*" jump from_guest');
    expect(text).toContain('iifname . ether saddr != @fence_mac drop');
    expect(text).toContain('ether type ip iifname . ip saddr != @fence_ip drop');
    expect(text).toContain('ether type arp iifname . arp saddr ip != @fence_ip drop');
    expect(text).toContain('ether type != { ip, arp } drop');
    expect(text).toMatch(/iifname "bgrtap\*" drop\n {4}oifname "bgrtap\*" drop/);
  });
  it('without an uplink masquerades out of anything but the bridge', () => {
    const text = renderNatRuleset(anyUplink);
    expect(text).toContain('oifname != "bgr-br0" masquerade');
    expect(text).toContain('oifname "bgr-br0" drop');
  });
  it('refuses to quote anything that could escape a string', () => {
    expect(() => renderNatRuleset({ ...plan, uplink: 'eth0" accept' })).toThrow(/not allowed/);
    expect(() => renderVmFence(plan, undefined, { ...a, tap: 'x" accept' })).toThrow(/not allowed/);
  });
  it('fingerprints differ per plan', () => {
    expect(natFingerprint(anyUplink)).not.toBe(natFingerprint(plan));
    expect(natFingerprint(anyUplink)).not.toBe(natFingerprint({ ...anyUplink, tapPrefix: 'tx' }));
    expect(natFingerprint(anyUplink)).toMatch(/^banger:nat:[0-9a-f]{16}$/);
  });
  it('removal touches only banger\'s tables', () => {
    expect(renderNatRemoval()).toBe('table inet banger\ndelete table inet banger\ntable bridge banger\ndelete table bridge banger\n');
  });
});

describe('per-VM fences', () => {
  it('allow: fenced ranges and host addresses dropped, the uplink accepted, then drop', () => {
    const text = renderVmFence(plan, undefined, a).join('\n');
    expect(text).toContain('add rule inet banger vm_bgrtap0 fib daddr type local drop\nadd rule inet banger vm_bgrtap0 ip daddr @fenced drop\nadd rule inet banger vm_bgrtap0 oifname "eth0" accept\nadd rule inet banger vm_bgrtap0 drop');
    expect(text).toContain('add element inet banger guest_policy { 172.30.0.2 : jump vm_bgrtap0 }');
    expect(text).toContain('add element bridge banger fence_mac { "bgrtap0" . 02:bb:00:00:00:02 }');
    expect(text).toContain('add element bridge banger fence_ip { "bgrtap0" . 172.30.0.2 }');
  });
  it('list: listed networks before the fences, resolved hostnames after them', () => {
    const text = renderVmFence(plan, undefined, b).join('\n');
    expect(text).toContain('add element inet banger vm_bgrtap1_cidr { 10.1.0.0/16, 203.0.113.7/32 }');
    expect(text).toMatch(/ip daddr @vm_bgrtap1_cidr accept\n.*ip daddr @fenced drop\n.*ip daddr @vm_bgrtap1_host accept\n.*vm_bgrtap1 drop/);
  });
  it('deny: nothing but the final drop', () => {
    const rules = renderVmFence(plan, undefined, { ...a, egress: { mode: 'deny', cidrs: [], hostnames: [] } }).filter((l) => l.startsWith('add rule'));
    expect(rules).toEqual(['add rule inet banger vm_bgrtap0 fib daddr type local drop', 'add rule inet banger vm_bgrtap0 drop']);
  });
  it('an update touches only that VM and undoes what changed', () => {
    const text = renderVmFence(plan, b, { ...b, ipv4: '172.30.0.9' }).join('\n');
    expect(text).not.toMatch(/bgrtap0|vm-a/);
    expect(text).toContain('delete element inet banger guest_policy { 172.30.0.3 }');
    expect(text).toContain('delete element bridge banger fence_ip { "bgrtap1" . 172.30.0.3 }');
    expect(text).not.toContain('fence_mac { "bgrtap1" . 02:bb:00:00:00:03 }\ndelete');
    expect(renderVmFence(plan, b, b).join('\n')).not.toContain('flush set inet banger vm_bgrtap1_host');
  });
  it('resolved addresses carry their timeout', () => {
    expect(renderAllowResolved(b, ['198.51.100.7', '198.51.100.8'], 120)).toBe('add element inet banger vm_bgrtap1_host { 198.51.100.7 timeout 120s, 198.51.100.8 timeout 120s }\n');
  });
  it.skipIf(!nftUsable)('nft accepts the tables, two fences, an update, a resolved answer and an unfence in one checked batch', () => {
    const batch = [
      renderNatRuleset(plan, [a, b]),
      ...renderVmFence(plan, b, { ...b, ipv4: '172.30.0.9', egress: { mode: 'deny', cidrs: [], hostnames: [] } }),
      renderAllowResolved(a, ['198.51.100.7'], 60),
      ...renderVmUnfence(a),
      ...renderVmUnfence(a),
      '',
    ].join('\n');
    expect(nftCheck(batch)).toBeUndefined();
    expect(nftCheck(renderNatRemoval())).toBeUndefined();
  });
});
