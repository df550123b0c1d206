import { describe, expect, it } from 'vitest';
import { DEFAULT_EXEC_OUTPUT_BYTES, validateGuestCommand, validateOutputLimit } from './guest-command.js';

const base = { argv: ['id'], env: {}, stdin: Buffer.alloc(0), user: '', workingDir: '', timeoutMs: undefined };

describe('validateGuestCommand', () => {
  it('keeps every field', () => {
    expect(validateGuestCommand({ ...base, env: { A: '1' }, stdin: Buffer.from('x'), user: 'nobody', workingDir: '/tmp', timeoutMs: 1000 })).toEqual({
      argv: ['id'],
      env: { A: '1' },
      input: Buffer.from('x'),
      user: 'nobody',
      workingDir: '/tmp',
      timeoutMs: 1000,
    });
  });

  it.each([
    [{ argv: [] }, 'command'],
    [{ argv: ['a\u0000'] }, 'command.argv[0]'],
    [{ env: { 'A=B': '1' } }, 'command.env'],
    [{ user: 'root; rm -rf /' }, 'command.user'],
    [{ workingDir: 'relative' }, 'command.working_dir'],
    [{ timeoutMs: 0 }, 'command.timeout'],
  ])('refuses %j naming %s', (patch, field) => {
    expect(() => validateGuestCommand({ ...base, ...patch })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field }) as Error);
  });
});

describe('validateOutputLimit', () => {
  it('defaults 0 and unset to 1 MiB and keeps a limit within range', () => {
    expect(validateOutputLimit(undefined)).toBe(DEFAULT_EXEC_OUTPUT_BYTES);
    expect(validateOutputLimit(0)).toBe(1 << 20);
    expect(validateOutputLimit(16 << 20)).toBe(16 << 20);
    expect(validateOutputLimit(1)).toBe(1);
  });

  it.each([(16 << 20) + 1, -1, 1.5])('refuses %d naming max_output_bytes', (n) => {
    expect(() => validateOutputLimit(n)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'max_output_bytes', reason: 'INVALID_OUTPUT_LIMIT' }) as Error);
  });
});
