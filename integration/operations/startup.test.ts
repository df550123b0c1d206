import { afterEach, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';

describe('start-up refuses a bad database configuration with a clear message', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  for (const daemon of ['vmd', 'imaged'] as const) {
    it(`${daemon}: an unreachable PostgreSQL stops the daemon (exit 1, 'start-up failed', UNAVAILABLE)`, async () => {
      stack = await createStack({ extraConfig: '[database]\nurl = "postgresql://banger@localhost/banger?host=%2Fnonexistent-banger-dir"' });
      await expect(stack.start(daemon)).rejects.toThrow(/exited with 1/);
      const fatal = stack.daemons[daemon]?.logs.find((l) => l.msg === 'start-up failed');
      expect(fatal?.level).toBe('fatal');
      expect(fatal?.['err']).toMatchObject({ code: 'UNAVAILABLE', reason: 'DATABASE_UNAVAILABLE' });
    });
  }

  it('vmd: an invalid database url names the key', async () => {
    stack = await createStack({ extraConfig: '[database]\nurl = "mysql://nope"' });
    await expect(stack.start('vmd')).rejects.toThrow(/exited with 1/);
    const fatal = stack.daemons.vmd?.logs.find((l) => l.msg === 'start-up failed');
    expect(String((fatal?.['err'] as { message?: string } | undefined)?.message)).toMatch(/database\.url/);
  });
});
