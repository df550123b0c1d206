import { lstat, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import { racerLine } from './lib/attacker.js';
import { evidence } from './lib/evidence.js';

/**
 * Files privhelper itself keeps: its socket (issue 11, item 5) and its metrics textfile. v1
 * bound in a private dir made inside the banger-owned run dir and wrote metrics to
 * `<run>/metrics/.<pid>.<ms>.tmp`. v2 stages the socket in `<run>/helper` (root 0711) and
 * writes metrics to `<run>/helper/metrics`; only the socket itself lives in the shared run
 * dir, which is root-owned and sticky (group banger may add entries, not rename or replace
 * root's). So the attacker pre-creates the names privhelper uses there instead.
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: privhelper's own files: ${skip}`);

async function describeEntry(p: string): Promise<string> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return 'absent';
  const type = st.isSocket() ? 'socket' : st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  return `${type} ${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}`;
}

describe.skipIf(skip !== undefined)("security: privhelper's own files", () => {
  const ctx = useHarness();

  /** Leaves a working privhelper: clears whatever the attacker left at the socket path, restarts. */
  async function recover(h: SecurityHarness): Promise<void> {
    await h.attacker.unlisten(h.socketPath).catch(() => undefined);
    await rm(h.socketPath, { recursive: true, force: true });
    const r = await h.restartPrivhelper();
    if (!r.started) throw new Error(`privhelper did not come back: ${r.error ?? ''}`);
  }

  /**
   * v1: the textfile temp name `.<pid>.<ms>.tmp` (pid from GetServerInfo, shared clock) was
   * planted as symlinks to the victim in `<run>/metrics`. v2: planting in `<run>/helper/metrics`
   * is refused; the same links in `<run>/metrics` (banger's own, where v1 wrote) are ignored.
   * A stop flushes the textfile once more, so the test stops privhelper rather than wait 15 s.
   */
  it('metrics textfile: predictable temp names planted as symlinks do not make root overwrite the victim', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const info = await h.attacker.call('getServerInfo', {});
    const pid = info.ok ? (info.res.info?.pid ?? 0) : 0;
    const helperMetrics = path.join(h.helper.runRoot, 'metrics');
    const textfile = path.join(helperMetrics, 'privhelper.prom');
    const mtime0 = (await stat(textfile)).mtimeMs;
    const start = Date.now();
    const names = (dir: string): string[] => Array.from({ length: 8000 }, (_, i) => path.join(dir, `.${pid}.${start + i}.tmp`));
    const intoHelper = await h.attacker.symlinkError(path.join(v.dir, 'shadow'), names(helperMetrics)[0] ?? '');
    await h.attacker.symlinkMany(path.join(v.dir, 'shadow'), names(h.daemonDirs.metricsDir));
    const restarted = await h.restartPrivhelper();
    const mtime1 = (await stat(textfile)).mtimeMs;
    const changes = await h.hostChanges(v, before);
    for (const n of await h.attacker.readdir(h.daemonDirs.metricsDir)) if (n.endsWith('.tmp')) await h.attacker.rm(path.join(h.daemonDirs.metricsDir, n));
    const seen = `symlink in <run>/helper/metrics: ${intoHelper}; 8000 links in <run>/metrics; privhelper ${pid} stopped (final flush) and ${restarted.started ? 'restarted' : `failed: ${restarted.error ?? ''}`}; ${path.relative(h.runDir, textfile)} rewritten: ${mtime1 > mtime0}`;
    evidence(seen);
    expect(intoHelper).toBe('EACCES');
    expect(changes, seen).toEqual([]);
    expect(mtime1 > mtime0 && restarted.started, seen).toBe(true);
  });

  /**
   * v1: serveUnix bound in `mkdtemp(<run>/.privhelper.sock.XXXXXX)`, a name a racer stole
   * (inotify on `<run>`) and replaced with a symlink to a victim dir. v2: the staging dir is in
   * `<run>/helper`: the racer's watch there is refused, and the one on `<run>` never sees a
   * staging name. Repeated over privhelper restarts.
   */
  it('socket staging dir raced (inotify on <run> and <run>/helper, over 4 restarts): the victim is untouched', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const onRun = await h.attacker.racer('steal', [h.runDir, '.privhelper.sock.', v.sockDir]);
    const onHelper = await h.attacker.racer('steal', [h.helper.runRoot, '.privhelper.sock.', v.sockDir]);
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await h.restartPrivhelper();
      outcomes.push(r.started ? 'started' : `failed to start: ${(r.error ?? '').slice(0, 300)}`);
    }
    const run = await onRun.stop();
    const helper = await onHelper.stop();
    const sock = await describeEntry(h.socketPath);
    const seen = `${outcomes.join(', ')}; on <run> ${racerLine(run)}; on <run>/helper ${racerLine(helper)}; socket ${sock}`;
    evidence(seen);
    expect(await h.hostChanges(v, before), seen).toEqual([]);
    expect(outcomes, seen).toEqual(['started', 'started', 'started', 'started']);
    expect([run.hits, run.swaps, helper.hits, helper.lastErrno], seen).toEqual([0, 0, 0, 'EACCES']);
    expect(sock).toBe(`socket 0:${h.account.gid} 660`);
  });

  /**
   * v1 kept the socket in the shared run directory: while privhelper was down, the attacker
   * could put anything at its name (a link, a file, a socket of its own that root clients such
   * as `banger doctor` would then talk to). v2 keeps it in `<run>/helper` (root 0711): with
   * privhelper stopped, the attacker cannot create any entry at the socket's name, and the
   * restarted privhelper serves its own socket there.
   */
  it('<run>/helper/privhelper.sock cannot be pre-created by the attacker while privhelper is down', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const sock = h.socketPath;
    expect(path.dirname(sock)).toBe(h.helper.runRoot);
    await h.stack.stop('privhelper');
    await rm(sock, { force: true });
    const attempts = {
      symlink: await h.attacker.symlinkError(path.join(v.sockDir, 'sock'), sock),
      file: await h.attacker.writeError(sock),
      dir: await h.attacker.mkdirError(sock),
      socket: await h.attacker.listen(sock).then(() => 'OK', (err: { code?: string }) => err.code ?? 'ERROR'),
    };
    evidence(`attacker at ${sock}: ${JSON.stringify(attempts)}`);
    expect(attempts).toEqual({ symlink: 'EACCES', file: 'EACCES', dir: 'EACCES', socket: 'EACCES' });
    await recover(h);
    expect(await describeEntry(sock)).toBe(`socket 0:${h.account.gid} 660`);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });
});
