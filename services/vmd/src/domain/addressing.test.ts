import { describe, expect, it } from 'vitest';
import { allocateAddress, macForVm, newVmId, parseSubnet } from './addressing.js';

describe('addressing', () => {
  it('parses the subnet and reserves the gateway', () => {
    expect(parseSubnet('172.30.0.0/24')).toMatchObject({ cidr: '172.30.0.0/24', gateway: '172.30.0.1', prefix: 24 });
    expect(parseSubnet('10.1.2.3/16').cidr).toBe('10.1.0.0/16');
  });
  it('allocates the lowest free address, never network, gateway or broadcast', () => {
    const s = parseSubnet('10.0.0.0/29');
    expect(allocateAddress(s, new Set())).toBe('10.0.0.2');
    expect(allocateAddress(s, new Set(['10.0.0.2', '10.0.0.3']))).toBe('10.0.0.4');
    const all = new Set(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    expect(() => allocateAddress(s, all)).toThrow(/no free address/);
  });
  it('derives a stable locally administered MAC', () => {
    expect(macForVm('abc')).toBe(macForVm('abc'));
    expect(macForVm('abc')).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(macForVm('abc')).not.toBe(macForVm('abd'));
  });
  it('mints hex vm ids', () => expect(newVmId()).toMatch(/^[0-9a-f]{16}$/));
});
