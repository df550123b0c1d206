import { InvalidArgumentError } from '@banger/runtime/errors';
import { describe, expect, it } from 'vitest';
import { validateVmName } from './names.js';

describe('validateVmName', () => {
  it.each(['dev', 'a', 'web-1', '0day', 'x'.repeat(63)])('accepts %s', (n) => expect(validateVmName(n)).toBe(n));
  it.each([
    ['', 'NAME_REQUIRED'],
    ['Dev', 'INVALID_NAME'],
    ['-dev', 'INVALID_NAME'],
    ['dev-', 'INVALID_NAME'],
    ['dev.vm', 'INVALID_NAME'],
    ['dev_1', 'INVALID_NAME'],
    ['x'.repeat(64), 'NAME_TOO_LONG'],
  ])('refuses %j with %s naming the field', (n, reason) => {
    const err = (() => {
      try {
        validateVmName(n);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).reason).toBe(reason);
    expect((err as InvalidArgumentError).field).toBe('name');
  });
});
