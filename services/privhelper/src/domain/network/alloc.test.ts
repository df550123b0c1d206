import { describe, expect, it } from 'vitest';
import { allocateIpv4, isGuestAddress, macForVm } from './alloc.js';
import { parseCidr } from './cidr.js';
import { NetError } from './errors.js';

describe('allocateIpv4', () => {
  const c = parseCidr('172.30.0.0/24');
  it('is deterministic per vm id', () => {
    const a = allocateIpv4(c, 'vm-a', new Set());
    expect(allocateIpv4(c, 'vm-a', new Set())).toBe(a);
    expect(isGuestAddress(c, a)).toBe(true);
  });
  it('probes past addresses in use', () => {
    const a = allocateIpv4(c, 'vm-a', new Set());
    const b = allocateIpv4(c, 'vm-a', new Set([a]));
    expect(b).not.toBe(a);
    expect(isGuestAddress(c, b)).toBe(true);
  });
  it('never hands out network, gateway or broadcast, and fills a /29 completely', () => {
    const small = parseCidr('10.9.0.8/29');
    const used = new Set<string>();
    for (let i = 0; i < 5; i++) used.add(allocateIpv4(small, `vm-${i}`, used));
    expect([...used].sort()).toEqual(['10.9.0.10', '10.9.0.11', '10.9.0.12', '10.9.0.13', '10.9.0.14']);
    try {
      allocateIpv4(small, 'vm-x', used);
      throw new Error('no throw');
    } catch (e) {
      expect(e).toBeInstanceOf(NetError);
      expect((e as NetError).kind).toBe('RESOURCE_EXHAUSTED');
      expect((e as NetError).reason).toBe('IP_POOL_EXHAUSTED');
    }
  });
  it('spreads different ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(allocateIpv4(c, `vm-${i}`, new Set()));
    expect(seen.size).toBeGreaterThan(40);
  });
  it('refuses a bad vm id', () => {
    expect(() => allocateIpv4(c, 'BAD', new Set())).toThrow(NetError);
  });
  it('isGuestAddress', () => {
    expect(isGuestAddress(c, '172.30.0.0')).toBe(false);
    expect(isGuestAddress(c, '172.30.0.1')).toBe(false);
    expect(isGuestAddress(c, '172.30.0.255')).toBe(false);
    expect(isGuestAddress(c, '172.30.1.2')).toBe(false);
    expect(isGuestAddress(c, 'nope')).toBe(false);
    expect(isGuestAddress(c, '172.30.0.2')).toBe(true);
  });
});

describe('macForVm', () => {
  it('is stable, locally administered and unicast', () => {
    const m = macForVm('vm-a');
    expect(macForVm('vm-a')).toBe(m);
    expect(m).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(macForVm('vm-b')).not.toBe(m);
  });
});
