import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from './run.js';

/** True once the pid is gone or only a zombie (dead, waiting for a reaper). */
function dead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitDead(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (dead(pid)) return true;
    await sleep(20);
  }
  return dead(pid);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'banger-proc-stop-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A shell that starts a background grandchild, records its pid, and waits. */
const family = (pidFile: string, ignoreTerm = false): [string, string[]] => [
  'sh',
  ['-c', `${ignoreTerm ? "trap '' TERM; " : ''}sleep 100 & echo $! > "$1"; wait`, 'sh', pidFile],
];

async function grandchildPid(pidFile: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const s = await readFile(pidFile, 'utf8').catch(() => '');
    if (s.trim() !== '') return Number(s.trim());
    await sleep(20);
  }
  throw new Error('grandchild did not start');
}

describe('timeout', () => {
  it('fails with DEADLINE_EXCEEDED/TOOL_TIMEOUT and kills the grandchildren too', async () => {
    const pidFile = path.join(dir, 'pid');
    const [f, a] = family(pidFile);
    const p = run(f, a, { timeoutMs: 400 });
    const gc = await grandchildPid(pidFile);
    expect(dead(gc)).toBe(false);
    await expect(p).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', reason: 'TOOL_TIMEOUT', fields: { tool: 'sh', timeout_ms: '400' } });
    expect(await waitDead(gc, 2_000)).toBe(true);
  });

  it('escalates to SIGKILL when the group ignores SIGTERM', async () => {
    const pidFile = path.join(dir, 'pid');
    const [f, a] = family(pidFile, true);
    const started = Date.now();
    const p = run(f, a, { timeoutMs: 300, killGraceMs: 300 });
    const gc = await grandchildPid(pidFile);
    await expect(p).rejects.toMatchObject({ reason: 'TOOL_TIMEOUT' });
    expect(await waitDead(gc, 2_000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
  });

  it('with detached: false stops only the child', async () => {
    const pidFile = path.join(dir, 'pid');
    // The grandchild does not hold our pipes, so run returns when the shell dies.
    const p = run('sh', ['-c', 'sleep 100 >/dev/null 2>&1 & echo $! > "$1"; wait', 'sh', pidFile], { timeoutMs: 300, detached: false });
    const gc = await grandchildPid(pidFile);
    await expect(p).rejects.toMatchObject({ reason: 'TOOL_TIMEOUT' });
    expect(dead(gc)).toBe(false);
    process.kill(gc, 'SIGKILL');
  });
});

describe('abort', () => {
  it('fails with CANCELLED and kills the whole group', async () => {
    const pidFile = path.join(dir, 'pid');
    const [f, a] = family(pidFile);
    const ac = new AbortController();
    const p = run(f, a, { signal: ac.signal });
    const gc = await grandchildPid(pidFile);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED', reason: 'CANCELLED' });
    expect(await waitDead(gc, 2_000)).toBe(true);
  });

  it('carries the caller reason and refuses to start when already aborted', async () => {
    const ac = new AbortController();
    const p = run('sleep', ['30'], { signal: ac.signal, cancelReason: 'BUILD_CANCELLED' });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED', reason: 'BUILD_CANCELLED', failure: 'CANCELLED' });
    const marker = path.join(dir, 'ran');
    await expect(run('touch', [marker], { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
