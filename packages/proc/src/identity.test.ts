import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './run.js';
import { ensureBangerUser, withSupplementaryGroups } from './test-support.js';

const user = ensureBangerUser();
const skip = 'skip' in user ? user.skip : undefined;
if (skip !== undefined) console.warn(`skipping privilege-drop tests: ${skip}`);

function statusField(status: string, name: string): string {
  const line = status.split('\n').find((l) => l.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`no ${name} line in /proc/self/status`);
  return line.slice(name.length + 1).trim();
}

describe.skipIf(skip !== undefined)('uid/gid drop', () => {
  const { uid, gid } = user as { uid: number; gid: number };

  it('runs as the given user with no supplementary groups', () => withSupplementaryGroups([0, 4, 27], async () => {
    expect(statusField((await run('cat', ['/proc/self/status'])).stdout, 'Groups').split(/\s+/)).toEqual(expect.arrayContaining(['4', '27']));
    expect((await run('id', ['-u'], { uid, gid })).stdout.trim()).toBe(String(uid));
    expect((await run('id', ['-g'], { uid, gid })).stdout.trim()).toBe(String(gid));
    const status = (await run('cat', ['/proc/self/status'], { uid, gid })).stdout;
    expect(statusField(status, 'Uid').split(/\s+/)).toEqual([String(uid), String(uid), String(uid), String(uid)]);
    expect(statusField(status, 'Gid').split(/\s+/)).toEqual([String(gid), String(gid), String(gid), String(gid)]);
    expect(statusField(status, 'Groups')).toBe('');
  }));
});

describe('no_new_privs', () => {
  it('is set for the tool when asked, and only then', async () => {
    expect(statusField((await run('cat', ['/proc/self/status'], { noNewPrivs: true })).stdout, 'NoNewPrivs')).toBe('1');
    expect(statusField((await run('cat', ['/proc/self/status'])).stdout, 'NoNewPrivs')).toBe('0');
  });

  it('keeps argv verbatim and the tool name in errors', async () => {
    expect((await run('printf', ['%s|', '--', '-x', 'a b'], { noNewPrivs: true })).stdout).toBe('--|-x|a b|');
    await expect(run('sh', ['-c', 'echo bad >&2; exit 4'], { noNewPrivs: true })).rejects.toMatchObject({ reason: 'TOOL_FAILED', tool: 'sh', exitCode: 4 });
    await expect(run('banger-no-such-tool', [], { noNewPrivs: true })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING' });
  });

  it.skipIf(skip !== undefined)('combines with the uid drop', async () => {
    const { uid, gid } = user as { uid: number; gid: number };
    const status = (await run('cat', ['/proc/self/status'], { uid, gid, noNewPrivs: true })).stdout;
    expect(statusField(status, 'NoNewPrivs')).toBe('1');
    expect(statusField(status, 'Uid').split(/\s+/)[0]).toBe(String(uid));
  });

  it.skipIf(skip !== undefined)('turns setpriv failing to exec the tool as the dropped user into TOOL_NOT_EXECUTABLE', async () => {
    const { uid, gid } = user as { uid: number; gid: number };
    const dir = await mkdtemp(path.join(tmpdir(), 'banger-proc-nx-'));
    try {
      const f = path.join(dir, 'root-only');
      writeFileSync(f, '#!/bin/sh\necho hi\n', { mode: 0o700 });
      await expect(run(f, [], { uid, gid, noNewPrivs: true })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_NOT_EXECUTABLE' });
      await expect(run(f, [], { uid, gid })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_NOT_EXECUTABLE' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('extraFds', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'banger-proc-fds-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('hands our open fds to the child as fd 3, 4, ...', async () => {
    writeFileSync(path.join(dir, 'a'), 'from fd three');
    writeFileSync(path.join(dir, 'b'), 'from fd four');
    const a = openSync(path.join(dir, 'a'), 'r');
    const b = openSync(path.join(dir, 'b'), 'r');
    try {
      const r = await run('sh', ['-c', 'cat <&3; echo; cat <&4'], { extraFds: [a, b] });
      expect(r.stdout).toBe('from fd three\nfrom fd four');
      await expect(run('sh', ['-c', 'cat <&3'])).rejects.toMatchObject({ reason: 'TOOL_FAILED' });
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });

  it.skipIf(skip !== undefined)('passes them through setpriv and the uid drop', async () => {
    const { uid, gid } = user as { uid: number; gid: number };
    const f = path.join(dir, 'secret');
    writeFileSync(f, 'root opened this', { mode: 0o600 });
    const fd = openSync(f, 'r');
    try {
      const r = await run('sh', ['-c', 'cat <&3; echo; id -u'], { uid, gid, noNewPrivs: true, extraFds: [fd] });
      expect(r.stdout).toBe(`root opened this\n${uid}\n`);
      await expect(run('cat', [f], { uid, gid })).rejects.toMatchObject({ reason: 'TOOL_FAILED' });
    } finally {
      closeSync(fd);
    }
  });
});
