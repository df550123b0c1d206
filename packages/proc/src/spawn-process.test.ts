import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PINNED_PATH } from './env.js';
import { spawnProcess } from './spawn-process.js';
import { ensureBangerUser, withSupplementaryGroups } from './test-support.js';

const user = ensureBangerUser();
const skip = 'skip' in user ? user.skip : undefined;

function status(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}
function field(st: string, name: string): string {
  return (st.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '').slice(name.length + 1).trim();
}
function gone(pid: number): boolean {
  try {
    return field(status(pid), 'State').startsWith('Z');
  } catch {
    return true;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'banger-proc-spawn-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('spawnProcess', () => {
  it('returns once the child runs, and `exited` with its code and the tail of stderr', async () => {
    const h = await spawnProcess('sh', ['-c', 'echo starting >&2; read x; echo "bye $x" >&2; exit 7'], { stdin: 'pipe' });
    expect(h.pid).toBeGreaterThan(1);
    expect(gone(h.pid)).toBe(false);
    h.stdin?.end('now\n');
    expect(await h.exited).toEqual({ code: 7, signal: null });
    expect(h.stderrTail()).toBe('starting\nbye now\n');
  });

  it('pins the environment like run', async () => {
    process.env['BANGER_TEST_SECRET'] = 'hunter2';
    try {
      const h = await spawnProcess('env', [], { stdout: 'pipe' });
      const lines: string[] = [];
      for await (const l of createInterface({ input: h.stdout! })) lines.push(l);
      await h.exited;
      expect(lines.sort()).toEqual(['LANG=C.UTF-8', 'LC_ALL=C.UTF-8', `PATH=${PINNED_PATH}`]);
    } finally {
      delete process.env['BANGER_TEST_SECRET'];
    }
  });

  it('kill signals the whole group, grandchildren included', async () => {
    const pidFile = path.join(dir, 'gc.pid');
    const h = await spawnProcess('sh', ['-c', 'sleep 100 & echo $! > "$1"; wait', 'sh', pidFile]);
    let gc = 0;
    for (let i = 0; i < 100 && gc === 0; i++) {
      gc = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || 0;
      if (gc === 0) await sleep(20);
    }
    expect(gone(gc)).toBe(false);
    expect(h.kill('SIGTERM')).toBe(true);
    expect(await h.exited).toEqual({ code: null, signal: 'SIGTERM' });
    for (let i = 0; i < 100 && !gone(gc); i++) await sleep(20);
    expect(gone(gc)).toBe(true);
  });

  it('stop escalates to SIGKILL after the grace', async () => {
    const h = await spawnProcess('sh', ['-c', "trap '' TERM; echo ready; while :; do sleep 0.05; done"], { stdout: 'pipe' });
    for await (const l of createInterface({ input: h.stdout! })) if (l === 'ready') break;
    const started = Date.now();
    expect(await h.stop(300)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('writes stdout and stderr to given fds (a log file)', async () => {
    const log = path.join(dir, 'child.log');
    const fd = openSync(log, 'w');
    try {
      const h = await spawnProcess('sh', ['-c', 'echo out; echo err >&2'], { stdout: fd, stderr: fd });
      await h.exited;
      expect(h.stderrTail()).toBe('');
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(log, 'utf8')).toBe('out\nerr\n');
  });

  it('rejects a missing program with TOOL_MISSING instead of handing back a dead child', async () => {
    await expect(spawnProcess('banger-no-such-tool', [])).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'TOOL_MISSING' });
  });

  it.skipIf(skip !== undefined)('drops to uid/gid with no groups and no_new_privs, keeping inherited fds (the QEMU shape)', async () => {
    const { uid, gid } = user as { uid: number; gid: number };
    const secret = path.join(dir, 'tap-stand-in');
    writeFileSync(secret, 'fd payload', { mode: 0o600 });
    const fd = openSync(secret, 'r');
    try {
      const h = await withSupplementaryGroups([0, 4, 27], () => spawnProcess('sh', ['-c', 'cat <&3 >&2; exec sleep 30'], { uid, gid, noNewPrivs: true, extraFds: [fd] }));
      await sleep(300);
      const st = status(h.pid);
      expect(field(st, 'Name')).toBe('sleep');
      expect(field(st, 'Uid').split(/\s+/)).toEqual([String(uid), String(uid), String(uid), String(uid)]);
      expect(field(st, 'Gid').split(/\s+/)[0]).toBe(String(gid));
      expect(field(st, 'Groups')).toBe('');
      expect(field(st, 'NoNewPrivs')).toBe('1');
      expect(h.stderrTail()).toBe('fd payload');
      await h.stop(1_000);
    } finally {
      closeSync(fd);
    }
  });
});
