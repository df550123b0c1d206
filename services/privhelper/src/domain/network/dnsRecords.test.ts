import { describe, expect, it } from 'vitest';
import { NetError } from './errors.js';
import { validateRecords } from './dnsRecords.js';

function err(f: () => unknown): NetError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NetError);
    return e as NetError;
  }
  throw new Error('did not throw');
}

describe('validateRecords', () => {
  it('maps names to canonical addresses', () => {
    expect([...validateRecords([{ name: 'web', ipv4: '172.30.0.7' }])]).toEqual([['web', '172.30.0.7']]);
    expect(validateRecords([]).size).toBe(0);
  });
  it('names the offending record', () => {
    expect(err(() => validateRecords([{ name: 'ok', ipv4: '1.2.3.4' }, { name: 'Bad', ipv4: '1.2.3.4' }])).fields).toEqual({ field: 'records[1].name' });
    expect(err(() => validateRecords([{ name: 'ok', ipv4: '1.2.3' }])).fields).toEqual({ field: 'records[0].ipv4' });
    expect(err(() => validateRecords([null])).reason).toBe('BAD_RECORDS');
    expect(err(() => validateRecords('x')).reason).toBe('BAD_RECORDS');
  });
  it('refuses duplicates', () => {
    expect(err(() => validateRecords([{ name: 'a', ipv4: '1.2.3.4' }, { name: 'a', ipv4: '1.2.3.5' }])).reason).toBe('DUPLICATE_RECORD');
  });
  it('bounds the set size', () => {
    const many = Array.from({ length: 65_537 }, (_, i) => ({ name: `n${i}`, ipv4: '1.2.3.4' }));
    expect(err(() => validateRecords(many)).reason).toBe('TOO_MANY_RECORDS');
  });
});
