import { describe, expect, it } from 'vitest';
import { parseCidr } from './cidr.js';
import { MAX_EGRESS_ENTRIES, validateEgressPolicy } from './egressPolicy.js';
import { validateGuestIpv4, validateGuestMac } from './vmFence.js';

function refusal(f: () => unknown): { reason: string; field: string | undefined; message: string } {
  try {
    f();
  } catch (err) {
    const e = err as { reason: string; fields: Record<string, string>; message: string };
    return { reason: e.reason, field: e.fields.field, message: e.message };
  }
  throw new Error('expected a refusal');
}

describe('validateEgressPolicy', () => {
  it('allow and deny carry no lists; list canonicalises and dedupes', () => {
    expect(validateEgressPolicy({ mode: 'deny', cidrs: [], hostnames: [] })).toEqual({ mode: 'deny', cidrs: [], hostnames: [] });
    expect(validateEgressPolicy({ mode: 'list', cidrs: ['1.2.3.4', '10.0.0.0/8', '1.2.3.4/32'], hostnames: ['Example.COM.', 'example.com'] })).toEqual({ mode: 'list', cidrs: ['1.2.3.4/32', '10.0.0.0/8'], hostnames: ['example.com'] });
  });
  it('refuses what it cannot honour, naming the field', () => {
    expect(refusal(() => validateEgressPolicy({ mode: 'allow', cidrs: ['1.2.3.4'], hostnames: [] }))).toMatchObject({ reason: 'BAD_EGRESS_POLICY', field: 'egress.cidrs' });
    expect(refusal(() => validateEgressPolicy({ mode: 'maybe', cidrs: [], hostnames: [] }))).toMatchObject({ reason: 'BAD_EGRESS_MODE', field: 'egress.mode' });
    expect(refusal(() => validateEgressPolicy({ mode: 'list', cidrs: [], hostnames: [] }))).toMatchObject({ reason: 'BAD_EGRESS_POLICY', field: 'egress' });
    expect(refusal(() => validateEgressPolicy({ mode: 'list', cidrs: ['8.8.8.8', '10.0.0.1/8'], hostnames: [] }))).toMatchObject({ reason: 'BAD_CIDR', field: 'egress.cidrs[1]', message: expect.stringContaining('10.0.0.0/8') });
    expect(refusal(() => validateEgressPolicy({ mode: 'list', cidrs: ['300.1.1.1'], hostnames: [] }))).toMatchObject({ reason: 'BAD_CIDR', field: 'egress.cidrs[0]' });
    expect(refusal(() => validateEgressPolicy({ mode: 'list', cidrs: ['1.1.1.0/33'], hostnames: [] }))).toMatchObject({ reason: 'BAD_CIDR' });
    for (const h of ['*.example.com', 'localhost', 'a..b', '-a.com', 'x.vm', 'a_b.com', '1.2.3.999']) {
      expect(refusal(() => validateEgressPolicy({ mode: 'list', cidrs: [], hostnames: [h] }))).toMatchObject({ reason: 'BAD_HOSTNAME', field: 'egress.hostnames[0]' });
    }
    const many = Array.from({ length: MAX_EGRESS_ENTRIES + 1 }, (_, i) => `h${i}.example.com`);
    expect(refusal(() => validateEgressPolicy({ mode: 'list', cidrs: [], hostnames: many }))).toMatchObject({ reason: 'TOO_MANY_EGRESS_ENTRIES', field: 'egress' });
  });
});

describe('guest identity', () => {
  const net = parseCidr('172.30.0.0/24');
  it('a guest IP is a host of the network other than the gateway', () => {
    expect(validateGuestIpv4('172.30.0.7', net)).toBe('172.30.0.7');
    for (const [ip, reason] of [['172.30.0.1', 'BAD_GUEST_IP'], ['172.30.0.0', 'BAD_GUEST_IP'], ['172.30.0.255', 'BAD_GUEST_IP'], ['172.30.1.2', 'IP_OUTSIDE_NETWORK'], ['172.30.0.07', 'BAD_IPV4']] as const) {
      expect(refusal(() => validateGuestIpv4(ip, net))).toMatchObject({ reason, field: 'ipv4' });
    }
  });
  it('a guest MAC is unicast and locally administered', () => {
    expect(validateGuestMac('02:AB:00:00:00:01')).toBe('02:ab:00:00:00:01');
    for (const m of ['03:00:00:00:00:01', '00:11:22:33:44:55', '02:00:00:00:00', 'zz:00:00:00:00:00']) expect(refusal(() => validateGuestMac(m))).toMatchObject({ reason: 'BAD_MAC', field: 'mac' });
  });
});
