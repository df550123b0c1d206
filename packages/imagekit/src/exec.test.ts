import { describe, expect, it } from 'vitest';
import { run } from './exec.js';

describe('run', () => {
  it('returns stdout and passes argv verbatim (no shell)', async () => {
    const r = await run('printf', ['%s|', 'a b', '$HOME', ';ls']);
    expect(r.stdout.toString()).toBe('a b|$HOME|;ls|');
  });

  it('maps a missing binary to TOOL_MISSING and a failure to COMMAND_FAILED with stderr', async () => {
    await expect(run('banger-no-such-tool', [])).rejects.toMatchObject({ kind: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING' });
    await expect(run('ls', ['/banger-no-such-path'])).rejects.toMatchObject({ reason: 'COMMAND_FAILED', message: expect.stringContaining('No such file') });
  });

  it('feeds stdin', async () => {
    expect((await run('cat', [], { input: 'hello' })).stdout.toString()).toBe('hello');
  });

  it('aborts a running command', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = run('timeout', ['30', 'sleep', '30'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await expect(p).rejects.toMatchObject({ kind: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
