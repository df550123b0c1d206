import { describe, expect, it } from 'vitest';
import { NetError } from './errors.js';
import { cidrContains, gatewayCidr, gatewayOf, ipv4ToString, parseCidr, parseGatewayCidr, parseIpv4 } from './cidr.js';

function err(f: () => unknown): NetError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NetError);
    return e as NetError;
  }
  throw new Error('did not throw');
}

describe('parseCidr', () => {
  it('parses a guest network', () => {
    const c = parseCidr('172.30.0.0/24');
    expect(c.text).toBe('172.30.0.0/24');
    expect(ipv4ToString(c.broadcast)).toBe('172.30.0.255');
    expect(ipv4ToString(gatewayOf(c))).toBe('172.30.0.1');
    expect(gatewayCidr(c)).toBe('172.30.0.1/24');
    expect(parseCidr('10.0.0.0/8').prefix).toBe(8);
    expect(parseCidr('192.168.7.8/29').text).toBe('192.168.7.8/29');
  });
  it.each([
    ['172.30.0.5/24', 'host bits'],
    ['10.0.0.0/7', 'prefix'],
    ['10.0.0.0/30', 'prefix'],
    ['10.0.0.0/32', 'prefix'],
    ['10.0.0.0', 'a.b.c.d/n'],
    ['010.0.0.0/24', 'a.b.c.d/n'],
    ['10.0.0.256/24', 'a.b.c.d/n'],
    ['10.0.0.0/024', 'a.b.c.d/n'],
    [' 10.0.0.0/24', 'a.b.c.d/n'],
    ['127.0.0.0/24', 'overlap'],
    ['169.254.1.0/24', 'overlap'],
    ['224.0.0.0/8', 'overlap'],
    ['0.0.0.0/8', 'overlap'],
  ])('refuses %s (%s) with BAD_CIDR and the field', (v, hint) => {
    const e = err(() => parseCidr(v, 'guest_cidr'));
    expect(e.kind).toBe('INVALID_ARGUMENT');
    expect(e.reason).toBe('BAD_CIDR');
    expect(e.fields).toEqual({ field: 'guest_cidr' });
    expect(e.message).toContain(hint);
  });
  it('refuses non-strings', () => {
    expect(err(() => parseCidr(null)).reason).toBe('BAD_CIDR');
    expect(err(() => parseCidr(24)).reason).toBe('BAD_CIDR');
  });
  it('containment', () => {
    const c = parseCidr('10.1.0.0/16');
    expect(cidrContains(c, parseIpv4('10.1.255.3'))).toBe(true);
    expect(cidrContains(c, parseIpv4('10.2.0.1'))).toBe(false);
  });
});

describe('parseGatewayCidr', () => {
  it('takes the gateway with its prefix', () => {
    const g = parseGatewayCidr('172.30.0.1/24');
    expect(ipv4ToString(g.gateway)).toBe('172.30.0.1');
    expect(g.cidr.text).toBe('172.30.0.0/24');
  });
  it.each(['172.30.0.0/24', '172.30.0.255/24', '172.30.0.1', '172.30.0.1/31', 'x/24', '127.0.0.1/8'])('refuses %s', (v) => {
    expect(err(() => parseGatewayCidr(v)).reason).toBe('BAD_CIDR');
  });
});

describe('parseIpv4', () => {
  it('is strict', () => {
    expect(ipv4ToString(parseIpv4('1.2.3.4'))).toBe('1.2.3.4');
    for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1.2.3.4 ', '']) expect(err(() => parseIpv4(bad)).reason).toBe('BAD_IPV4');
  });
});
