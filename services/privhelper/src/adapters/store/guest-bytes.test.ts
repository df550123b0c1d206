import { chmod, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_UIDS } from '../../domain/hypervisor/jail.js';
import { isAlive } from '../proc/pids.js';
import { GuestBytesTools } from './guest-bytes.js';

const isRoot = process.getuid?.() === 0;
const RANGE = { uidBase: 2_000_000_000, uidCount: 1024 };
const FIRST_TOOL_UID = RANGE.uidBase + RANGE.uidCount - TOOL_UIDS;

describe.skipIf(!isRoot)('GuestBytesTools: tools that parse guest-written bytes run unprivileged on descriptors', () => {
  let dir = '';
  let disk = '';
  let secret = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'banger-guestbytes-'));
    await chmod(dir, 0o700);
    disk = path.join(dir, 'work.ext4');
    secret = path.join(dir, 'secret');
    await writeFile(disk, 'guest bytes\n', { mode: 0o600 });
    await writeFile(secret, 'root only\n', { mode: 0o600 });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the tool is a tool uid with no groups and no_new_privs, reads and writes only the file it was lent, which is root’s again after', async () => {
    const tools = new GuestBytesTools(RANGE);
    const fh = await open(disk, 'r+');
    try {
      const script = [
        'id -u; id -G',
        'grep -E "^(NoNewPrivs|CapEff):" /proc/self/status | tr -s "\\t " " "',
        `cat "$1"; echo written >> "$1"`,
        `cat ${secret} 2>/dev/null || echo secret:denied`,
        `cat ${disk} 2>/dev/null || echo path:denied`,
      ].join('\n');
      const res = await tools.run('sh', [fh], ([name]) => ['-c', script, 'sh', name!]);
      const lines = res.stdout.trim().split('\n');
      expect(Number(lines[0])).toBeGreaterThanOrEqual(FIRST_TOOL_UID);
      expect(lines[1]).toBe(lines[0]);
      expect(lines.slice(2, 4).sort()).toEqual(['CapEff: 0000000000000000', 'NoNewPrivs: 1']);
      expect(lines.slice(4)).toEqual(['guest bytes', 'secret:denied', 'path:denied']);
    } finally {
      await fh.close();
    }
    expect(await readFile(disk, 'utf8')).toBe('guest bytes\nwritten\n');
    const st = await stat(disk);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o600]);
  });

  it('gives the file back and kills what the tool left running, even when the tool fails', async () => {
    const tools = new GuestBytesTools(RANGE);
    const fh = await open(disk, 'r');
    let straggler = 0;
    try {
      const err = await tools.run('sh', [fh], () => ['-c', 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo straggler=$! >&2; exit 3']).catch((e: unknown) => e);
      expect(err).toMatchObject({ reason: 'TOOL_FAILED' });
      straggler = Number(/straggler=(\d+)/.exec(String((err as Error).message))?.[1] ?? 0);
    } finally {
      await fh.close();
    }
    expect((await stat(disk)).uid).toBe(0);
    // The background sleep ran as the tool uid and is gone.
    await sleep(50);
    expect(straggler).toBeGreaterThan(0);
    expect(await isAlive(straggler)).toBe(false);
  });

  it('runs side by side as distinct uids, and refuses a run when every tool uid is busy', async () => {
    const tools = new GuestBytesTools(RANGE);
    const runs = Array.from({ length: TOOL_UIDS }, () => tools.run('sh', [], () => ['-c', 'id -u; sleep 0.3']));
    const busy = await tools.run('true', [], () => []).catch((e: unknown) => e);
    expect(busy).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'DISK_TOOLS_BUSY' });
    const uids = (await Promise.all(runs)).map((r) => Number(r.stdout.trim()));
    expect(new Set(uids).size).toBe(TOOL_UIDS);
    expect(Math.min(...uids)).toBe(FIRST_TOOL_UID);
    // Freed again.
    expect((await tools.run('true', [], () => [])).code).toBe(0);
  });
});
