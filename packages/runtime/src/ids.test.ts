import { describe, expect, it } from 'vitest';
import { BangerError } from './errors.js';
import { validateRef, validateVmId } from './ids.js';

const rule = { entity: 'vm', maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, allowed: 'a name, an id or an id prefix' };

function caught(fn: () => unknown): BangerError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BangerError) return e;
  }
  throw new Error('expected a BangerError');
}

describe('validateVmId', () => {
  it('accepts what vmd mints and refuses the rest with BAD_VM_ID', () => {
    expect(validateVmId('0123456789abcdef')).toBe('0123456789abcdef');
    expect(validateVmId('a'.repeat(64))).toBe('a'.repeat(64));
    for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a.b', 'ä', 'a'.repeat(65), 42, undefined]) {
      expect(caught(() => validateVmId(bad))).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'BAD_VM_ID', fields: { field: 'vm_id' } });
    }
  });
});

describe('validateRef', () => {
  it('passes good references through', () => {
    expect(validateRef('dev', 'ref', rule)).toBe('dev');
    expect(validateRef('', 'image', rule, { allowEmpty: true })).toBe('');
  });

  it('refuses empty, long, control and foreign characters naming the field, echoing little', () => {
    expect(caught(() => validateRef('', 'ref', rule))).toMatchObject({ reason: 'VM_REF_EMPTY', fields: { field: 'ref' } });
    const long = caught(() => validateRef('x'.repeat(5000), 'ref', rule));
    expect(long).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'VM_REF_TOO_LONG', fields: { field: 'ref' } });
    expect(long.message.length).toBeLessThan(200);
    expect(caught(() => validateRef('a\u0000b', 'ref', rule))).toMatchObject({ reason: 'VM_REF_INVALID', fields: { field: 'ref' } });
    const odd = caught(() => validateRef(`${'é'.repeat(60)}`, 'ref', rule));
    expect(odd.reason).toBe('VM_REF_INVALID');
    expect(odd.message.length).toBeLessThan(200);
  });
});
