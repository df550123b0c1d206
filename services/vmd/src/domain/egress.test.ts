import { describe, expect, it } from 'vitest';
import { egressFromJson, formatEgress, MAX_EGRESS_ENTRIES, validateEgress } from './egress.js';

const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err as { reason: string; field: string; code: string };
  }
  throw new Error('expected a refusal');
};

describe('egress policy', () => {
  it('canonicalises a list: single addresses become /32, names lowercase, duplicates go', () => {
    expect(validateEgress({ mode: 'list', cidrs: ['1.2.3.4', '1.2.3.4/32', '0.0.0.0/0'], hostnames: ['API.Example.com.', 'api.example.com'] })).toEqual({ mode: 'list', cidrs: ['1.2.3.4/32', '0.0.0.0/0'], hostnames: ['api.example.com'] });
    expect(validateEgress({ mode: 'deny', cidrs: [], hostnames: [] })).toEqual({ mode: 'deny', cidrs: [], hostnames: [] });
  });
  it('refuses with INVALID_ARGUMENT naming the field', () => {
    expect(refusal(() => validateEgress({ mode: 'open', cidrs: [], hostnames: [] }))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_EGRESS_MODE', field: 'egress.mode' });
    expect(refusal(() => validateEgress({ mode: 'deny', cidrs: [], hostnames: ['a.com'] }))).toMatchObject({ reason: 'BAD_EGRESS_POLICY', field: 'egress.hostnames' });
    expect(refusal(() => validateEgress({ mode: 'list', cidrs: [], hostnames: [] }))).toMatchObject({ reason: 'BAD_EGRESS_POLICY', field: 'egress' });
    expect(refusal(() => validateEgress({ mode: 'list', cidrs: ['1.2.3.4', '1.2.3/24'], hostnames: [] }))).toMatchObject({ reason: 'BAD_CIDR', field: 'egress.cidrs[1]' });
    expect(refusal(() => validateEgress({ mode: 'list', cidrs: ['1.2.3.4/24/1'], hostnames: [] }))).toMatchObject({ reason: 'BAD_CIDR' });
    for (const h of ['*.a.com', 'web.vm', 'nodots', 'a..com', 'x_y.com']) expect(refusal(() => validateEgress({ mode: 'list', cidrs: [], hostnames: [h] }))).toMatchObject({ reason: 'BAD_HOSTNAME', field: 'egress.hostnames[0]' });
    const many = Array.from({ length: MAX_EGRESS_ENTRIES + 1 }, (_, i) => `10.0.${i}.0/24`);
    expect(refusal(() => validateEgress({ mode: 'list', cidrs: many, hostnames: [] }))).toMatchObject({ reason: 'TOO_MANY_EGRESS_ENTRIES', field: 'egress' });
  });
  it('reads rows from before the column as allow, and prints as the CLI spells it', () => {
    expect(egressFromJson(undefined)).toEqual({ mode: 'allow', cidrs: [], hostnames: [] });
    expect(egressFromJson({ mode: 'list', cidrs: ['1.2.3.4/32'], hostnames: ['a.com'] })).toEqual({ mode: 'list', cidrs: ['1.2.3.4/32'], hostnames: ['a.com'] });
    expect(formatEgress({ mode: 'list', cidrs: ['1.2.3.4/32'], hostnames: ['a.com'] })).toBe('1.2.3.4/32,a.com');
    expect(formatEgress({ mode: 'deny', cidrs: [], hostnames: [] })).toBe('deny');
  });
});
