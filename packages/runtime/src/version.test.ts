import { describe, expect, it } from 'vitest';
import { checkApiVersion } from './version.js';

describe('api version check', () => {
  it('accepts a missing header (older peers)', () => expect(checkApiVersion(undefined, '1.0')).toEqual({ ok: true }));
  it('accepts any minor of the same major', () => {
    expect(checkApiVersion('1.7', '1.0').ok).toBe(true);
    expect(checkApiVersion('1', '1.3').ok).toBe(true);
  });
  it('refuses another major', () => expect(checkApiVersion('2.0', '1.0').ok).toBe(false));
  it('refuses malformed values', () => {
    for (const v of ['', 'v1', '1.x', '1.0.0', 'abc']) expect(checkApiVersion(v, '1.0').ok).toBe(false);
  });
});
