import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcError } from './errors.js';
import { run } from './run.js';

const dir = mkdtempSync(path.join(tmpdir(), 'banger-proc-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run', () => {
  it('passes argv verbatim (no shell) and returns stdout, stderr and the code', async () => {
    const r = await run('sh', ['-c', 'printf "%s|" "$@"; echo oops >&2', 'sh', 'a b', '$HOME', ';ls']);
    expect(r).toEqual({ stdout: 'a b|$HOME|;ls|', stderr: 'oops\n', code: 0 });
  });

  it('feeds stdin and returns raw bytes when asked', async () => {
    const bytes = Buffer.from([0, 255, 1, 0xc3]);
    const r = await run('cat', [], { input: bytes, encoding: 'buffer' });
    expect(Buffer.isBuffer(r.stdout) && r.stdout.equals(bytes)).toBe(true);
    expect((await run('cat', [], { input: 'hello' })).stdout).toBe('hello');
  });

  it('treats the exit codes in okCodes as success and reports which', async () => {
    expect((await run('sh', ['-c', 'exit 1'], { okCodes: [0, 1] })).code).toBe(1);
    await expect(run('sh', ['-c', 'exit 2'], { okCodes: [0, 1] })).rejects.toMatchObject({ code: 'INTERNAL', reason: 'TOOL_FAILED', exitCode: 2 });
  });

  it('fails with TOOL_FAILED naming the tool, the exit and the end of stderr', async () => {
    const err = (await run('sh', ['-c', 'for i in $(seq 1 50); do echo line$i >&2; done; exit 3']).catch((e: unknown) => e)) as ProcError;
    expect(err).toBeInstanceOf(ProcError);
    expect(err).toMatchObject({ code: 'INTERNAL', reason: 'TOOL_FAILED', tool: 'sh', exitCode: 3, signal: null, fields: { tool: 'sh', exit_code: '3' } });
    expect(err.message).toMatch(/^sh failed \(exit 3\): line43\n[\s\S]*line50$/);
    expect(err.message).not.toContain('line42');
    expect(err.stderr).toContain('line1\n');
  });

  it('reports a death by signal', async () => {
    await expect(run('sh', ['-c', 'kill -KILL $$'])).rejects.toMatchObject({ reason: 'TOOL_FAILED', exitCode: null, signal: 'SIGKILL', fields: { signal: 'SIGKILL' } });
  });

  it('maps a missing program to FAILED_PRECONDITION/TOOL_MISSING, by name and by path', async () => {
    await expect(run('banger-no-such-tool', [])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING', fields: { tool: 'banger-no-such-tool' } });
    await expect(run(path.join(dir, 'absent'), [])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING' });
  });

  it('maps a program without execute permission to FAILED_PRECONDITION/TOOL_NOT_EXECUTABLE', async () => {
    const f = path.join(dir, 'not-exec');
    writeFileSync(f, '#!/bin/sh\necho hi\n');
    chmodSync(f, 0o644);
    await expect(run(f, [])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_NOT_EXECUTABLE' });
  });

  it('maps a script whose interpreter is missing (exec ENOENT) to TOOL_MISSING', async () => {
    const f = path.join(dir, 'bad-interp');
    writeFileSync(f, '#!/banger/no/such/interpreter\n');
    chmodSync(f, 0o755);
    await expect(run(f, [])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING' });
  });

  it('keeps only the tail of a huge stderr', async () => {
    const r = await run('sh', ['-c', 'head -c 1000000 /dev/zero | tr "\\0" x >&2; echo END >&2'], { maxStderr: 1000 });
    expect(r.stderr.length).toBe(1000);
    expect(r.stderr.endsWith('xxEND\n')).toBe(true);
  });

  it('fails with TOOL_OUTPUT_TOO_LARGE instead of cutting stdout, and stops the tool', async () => {
    const started = Date.now();
    await expect(run('cat', ['/dev/zero'], { maxStdout: 64 * 1024 })).rejects.toMatchObject({
      code: 'INTERNAL', reason: 'TOOL_OUTPUT_TOO_LARGE', fields: { max_stdout: '65536' },
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await run('head', ['-c', '65536', '/dev/zero'], { maxStdout: 64 * 1024 })).stdout.length).toBe(65536);
  });

  it('discards stdout when captureStdout is false', async () => {
    const r = await run('head', ['-c', '100000', '/dev/zero'], { captureStdout: false, maxStdout: 10 });
    expect(r.stdout).toBe('');
  });

  it('runs in cwd, and says so when cwd is not a directory rather than blaming the tool', async () => {
    expect((await run('pwd', [], { cwd: dir })).stdout.trim()).toBe(dir);
    await expect(run('pwd', [], { cwd: path.join(dir, 'absent') })).rejects.toMatchObject({ code: 'INTERNAL', reason: 'SPAWN_FAILED', message: expect.stringContaining('cwd') });
  });

  it('refuses nonsense limits before starting anything', async () => {
    await expect(run('true', [], { timeoutMs: 0 })).rejects.toThrow(TypeError);
    await expect(run('true', [], { maxStdout: -1 })).rejects.toThrow(TypeError);
    await expect(run('true', [], { uid: 999 })).rejects.toThrow(/together/);
  });
});
