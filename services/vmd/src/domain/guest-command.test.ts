import { describe, expect, it } from 'vitest';
import { validateGuestCommand } from './guest-command.js';

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
