import { vmv1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { formatEgress, parseEgress } from './egress.js';

describe('--egress', () => {
  it('reads allow, deny and a list of networks and hostnames', () => {
    expect(parseEgress('--egress', 'allow').mode).toBe(vmv1.EgressMode.EGRESS_MODE_ALLOW);
    expect(parseEgress('--egress', 'DENY').mode).toBe(vmv1.EgressMode.EGRESS_MODE_DENY);
    expect(parseEgress('--egress', '10.0.0.0/8, 1.2.3.4,api.example.com')).toEqual({ mode: vmv1.EgressMode.EGRESS_MODE_LIST, cidrs: ['10.0.0.0/8', '1.2.3.4'], hostnames: ['api.example.com'] });
  });
  it('refuses empty entries as a usage error', () => {
    expect(() => parseEgress('--egress', 'a.com,,b.com')).toThrow(/--egress: empty entry/);
    expect(() => parseEgress('--egress', '')).toThrow(/empty entry/);
  });
  it('prints as it is spelled', () => {
    expect(formatEgress(undefined)).toBe('allow');
    expect(formatEgress(parseEgress('x', '1.2.3.4/32,a.com'))).toBe('1.2.3.4/32,a.com');
  });
});
