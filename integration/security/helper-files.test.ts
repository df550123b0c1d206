import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { securityUnavailableReason, useHarness } from './harness.js';

/**
 * Files privhelper itself keeps in the banger-owned run dir: its socket (issue 11, item 5) and,
 * found in runtime/metrics.ts, its metrics textfile. Safe: no victim changes, whatever the
 * attacker plants or swaps there.
 *
 * v2: privhelper's socket and metrics live in (or are created through) a root-owned directory;
 * the same racer and links, pointed there, fail with EACCES.
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: privhelper's own files: ${skip}`);

describe.skipIf(skip !== undefined)("security: privhelper's own files in the caller-owned run dir", () => {
  const ctx = useHarness();

  /**
   * The textfile is written as `<run>/metrics/.<pid>.<ms>.tmp` and renamed into place every
   * 15 s. The pid is in GetServerInfo, the clock is shared: the attacker plants those names for
   * the next 17 s as symlinks to the victim and waits for the flush, which writes through one.
   */
  it('metrics textfile: predictable temp names planted as symlinks do not make root overwrite the victim', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const info = await h.attacker.call('getServerInfo', {});
    expect(info.ok).toBe(true);
    const pid = info.ok ? (info.res.info?.pid ?? 0) : 0;
    const metrics = path.join(h.runDir, 'metrics');
    const start = Date.now();
    const names = Array.from({ length: 17_000 }, (_, i) => path.join(metrics, `.${pid}.${start + i}.tmp`));
    await h.attacker.symlinkMany(path.join(v.dir, 'shadow'), names);
    let changes: string[] = [];
    while (changes.length === 0 && Date.now() < start + 16_500) {
      await new Promise((r) => setTimeout(r, 500));
      changes = await h.hostChanges(v, before);
    }
    await h.attacker.rm(metrics);
    await h.attacker.mkdir(metrics);
    expect(changes, `privhelper pid ${pid}, waited ${Date.now() - start} ms`).toEqual([]);
  });

  /**
   * serveUnix binds in `mkdtemp(<run>/.privhelper.sock.XXXXXX)`, then chmods, chowns and renames
   * `<that dir>/sock` by path. A racer (inotify on `<run>`) renames the fresh dir away and puts
   * a symlink to a victim dir holding a root file named `sock` in its place. Swapped before the
   * bind, the bind fails and privhelper unlinks the victim; after it, the victim is chmodded
   * 0660, given group banger and moved to `<run>/privhelper.sock`. Repeated over restarts.
   */
  it('socket private dir swapped for a symlink (inotify, over privhelper restarts): the victim is untouched', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const socket = h.socketPath;
    const racer = await h.attacker.racer('steal', [h.runDir, '.privhelper.sock.', v.sockDir]);
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 0; i < 8 && changes.length === 0; i++) {
      const r = await h.restartPrivhelper();
      outcomes.push(r.started ? 'started' : `failed to start: ${(r.error ?? '').slice(0, 300)}`);
      changes = await h.hostChanges(v, before);
    }
    const raced = await racer.stop();
    const leaked = await h.attacker.readFile(socket).then((b) => b.toString().trim(), () => '');
    // Leave a working helper: the attacker clears what it left at the socket path (its own dir).
    await h.attacker.rm(socket);
    await h.restartPrivhelper();
    expect(changes, `${outcomes.length} restarts, racer stole ${raced.hits}; last: ${outcomes.at(-1) ?? ''}${leaked ? `; attacker read ${socket}: ${leaked}` : ''}`).toEqual([]);
  });
});
