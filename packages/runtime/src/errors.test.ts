import { describe, expect, it } from 'vitest';
import { BangerError, InternalError, InvalidArgumentError, NotFoundError, toBangerError } from './errors.js';

describe('errors', () => {
  it('names the field of an invalid argument', () => {
    const err = new InvalidArgumentError('name', 'must be a DNS label');
    expect(err).toBeInstanceOf(BangerError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.fields).toEqual({ field: 'name' });
    expect(err.message).toBe('name: must be a DNS label');
  });

  it('refuses a reason that is not UPPER_SNAKE', () => {
    expect(() => new BangerError('INTERNAL', 'lower', 'x')).toThrow(TypeError);
  });

  it('keeps adapter classification from kind-shaped errors', () => {
    const adapterErr = Object.assign(new Error('tap busy'), { kind: 'ABORTED', reason: 'TAP_BUSY', fields: { tap: 'bgrtap0' } });
    const err = toBangerError(adapterErr);
    expect(err.code).toBe('ABORTED');
    expect(err.reason).toBe('TAP_BUSY');
    expect(err.fields).toEqual({ tap: 'bgrtap0' });
    expect(err.cause).toBe(adapterErr);
  });

  it('turns unknown errors into INTERNAL without leaking their message', () => {
    const err = toBangerError(new Error('password=hunter2 at /secret/path'));
    expect(err).toBeInstanceOf(InternalError);
    expect(err.message).toBe('internal error');
    expect((err.cause as Error).message).toContain('hunter2');
  });

  it('passes banger errors through untouched', () => {
    const e = new NotFoundError('vm', 'dev');
    expect(toBangerError(e)).toBe(e);
    expect(e.message).toBe('vm "dev" not found');
  });
});

describe('downstream errors', () => {
  it('keeps the code and reason of another daemon\'s RpcError', () => {
    const rpc = Object.assign(new Error('tap busy (op-aaaaaaaaaaaa)'), {
      name: 'RpcError',
      codeName: 'ABORTED',
      reason: 'TAP_BUSY',
      details: 'tap busy',
      errorMetadata: { tap: 't0' },
    });
    const err = toBangerError(rpc);
    expect(err.code).toBe('ABORTED');
    expect(err.reason).toBe('TAP_BUSY');
    expect(err.message).toBe('tap busy');
    expect(err.fields).toEqual({ tap: 't0' });
  });
});
