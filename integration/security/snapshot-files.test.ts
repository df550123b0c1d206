import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotStore, sparseCopy } from '../../services/privhelper/src/adapters/store/snapshot-store.js';
import { launchRequest } from './attacks/requests.js';
import { securityUnavailableReason, useHarness } from './harness.js';
import { evidence } from './lib/evidence.js';

/**
 * Snapshot files (issue 15, item 4): state.bin, the frozen disk copies and snapshot.json live in
 * privhelper's root-only `<state>/helper/snapshots/<id>/`, built in `.partial-<id>/` and renamed
 * into place, and reach QEMU by descriptor. The attacker is the banger uid, which privhelper
 * serves: it may ask for any snapshot by id, so the safety is that (a) it cannot read or
 * replace the files, (b) it cannot plant anything where privhelper creates a snapshot or a
 * partial one, (c) every snapshot id is one path component in that root (no path syntax, and
 * another VM's id names no snapshot), and (d) it has no route to hand privhelper a state file
 * of its own. A corrupted or truncated state.bin is refused at restore (STATE_CORRUPT naming
 * the snapshot): integration/snapshot/snapshot.test.ts shows that with a real QEMU.
 */
const skip = await securityUnavailableReason();
if (skip) console.warn(`[skip] security: snapshot files: ${skip}`);

const SNAP = 'a1b2c3d4e5f60718';
const HOSTILE = ['../x', '..', '.', 'a/b', '/etc/passwd', 'x\u0000y', 'x'.repeat(300), '-rf', ' ', '.partial-a1b2c3d4e5f60718', `../snapshots/${SNAP}`];

describe.skipIf(skip !== undefined)('security: snapshot files against the banger uid', () => {
  const ctx = useHarness();
  let dir = '';
  let victimVm = '';
  let files: Record<string, string> = {};

  beforeAll(async () => {
    const { h } = ctx;
    // A snapshot made the way privhelper makes one (its store, as root, in its root).
    const src = path.join(h.helper.stateRoot, 'test-src');
    await mkdir(src, { recursive: true, mode: 0o700 });
    await writeFile(path.join(src, 'root.qcow2'), 'root-disk-bytes');
    await writeFile(path.join(src, 'work.ext4'), 'work-disk-bytes');
    const store = new SnapshotStore(h.helper.snapshotsDir, sparseCopy);
    const draft = await store.begin(SNAP);
    await draft.state.write(Buffer.from('QEVM-state-bytes'));
    await store.copyDisks(draft, { root: path.join(src, 'root.qcow2'), work: path.join(src, 'work.ext4') });
    const compat = { qemuVersion: '7.2.0', accel: 'tcg', cpuModel: 'max', machine: 'microvm', memoryMib: 256, vcpus: 1, kernel: 'k/1', baseImage: 'img', workDisk: true, mac: '02:00:00:00:00:01' };
    await store.commit(draft, { sourceVmId: 'srcvm0000000001', compat: compat as never, pauseMs: 1 });
    await rm(src, { recursive: true, force: true });
    dir = path.join(h.helper.snapshotsDir, SNAP);
    files = Object.fromEntries(await Promise.all((await readdir(dir)).map(async (n) => [n, await readFile(path.join(dir, n), 'utf8')] as const)));
    // Another VM's disks, to pass its id where a snapshot id goes.
    victimVm = 'victimvm00000001';
    await mkdir(path.join(h.helper.vmsDir, victimVm), { recursive: true, mode: 0o700 });
    await writeFile(path.join(h.helper.vmsDir, victimVm, 'root.qcow2'), 'victim-root');
  });

  afterAll(async () => {
    const { h } = ctx;
    await rm(path.join(h.helper.vmsDir, victimVm), { recursive: true, force: true }).catch(() => undefined);
  });

  const unchanged = async (): Promise<void> => {
    const now = Object.fromEntries(await Promise.all((await readdir(dir)).map(async (n) => [n, await readFile(path.join(dir, n), 'utf8')] as const)));
    expect(now).toEqual(files);
    expect(await readFile(path.join(ctx.h.helper.vmsDir, victimVm, 'root.qcow2'), 'utf8')).toBe('victim-root');
  };

  it('(a) cannot read, list, write, truncate or replace a snapshot’s state.bin, disk copies or record', async () => {
    const { h } = ctx;
    const own = path.join(h.daemonDirs.metricsDir, `.attacker-${process.pid}`);
    await h.attacker.writeFile(own, 'attacker-state');
    const tried: Record<string, string> = { [`readdir ${path.relative(h.helper.stateRoot, h.helper.snapshotsDir)}`]: await h.attacker.attempt('readdir', { path: h.helper.snapshotsDir }) };
    for (const n of Object.keys(files)) {
      const f = path.join(dir, n);
      tried[`read ${n}`] = (await h.attacker.readError(f)) ?? 'OK';
      tried[`write ${n}`] = await h.attacker.writeError(f);
      tried[`truncate ${n}`] = await h.attacker.attempt('truncate', { path: f, size: 0 });
      tried[`replace ${n}`] = await h.attacker.renameError(own, f);
    }
    await h.attacker.rm(own);
    evidence(`attacker on ${dir}: ${JSON.stringify(tried)}`);
    expect(Object.entries(tried).filter(([, r]) => r !== 'EACCES')).toEqual([]);
    await unchanged();
  });

  it('(b) cannot plant a link, a file or a directory where privhelper creates a snapshot or its .partial- directory', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const next = 'f0f0f0f0f0f0f0f0';
    const tried: Record<string, string> = {};
    for (const name of [next, `.partial-${next}`, `.partial-${SNAP}`]) {
      const p = path.join(h.helper.snapshotsDir, name);
      tried[`symlink ${name}`] = await h.attacker.symlinkError(v.dir, p);
      tried[`file ${name}`] = await h.attacker.writeError(p);
      tried[`dir ${name}`] = await h.attacker.mkdirError(p);
    }
    tried['symlink at the snapshot root'] = await h.attacker.symlinkError(v.dir, path.join(h.helper.stateRoot, 'snapshots.x'));
    evidence(`attacker in ${h.helper.snapshotsDir}: ${JSON.stringify(tried)}`);
    expect(Object.entries(tried).filter(([, r]) => r !== 'EACCES')).toEqual([]);
    expect((await readdir(h.helper.snapshotsDir)).sort()).toEqual([SNAP]);
    await unchanged();
  });

  it('(c) a snapshot id with path syntax is INVALID_ARGUMENT naming snapshot_id on every snapshot verb, and another VM’s id names no snapshot', async () => {
    const { h } = ctx;
    const outcomes: string[] = [];
    const verbs = {
      DeleteSnapshot: (id: string) => h.attacker.call('deleteSnapshot', { snapshotId: id }, 20_000),
      DescribeSnapshot: (id: string) => h.attacker.call('describeSnapshot', { snapshotId: id }, 20_000),
      CreateDisksFromSnapshot: (id: string) => h.attacker.call('createDisksFromSnapshot', { vmId: 'clonevm000000001', snapshotId: id }, 20_000),
      RestoreSnapshot: (id: string) => h.attacker.call('restoreSnapshot', helperv2.RestoreSnapshotRequest.fromPartial({ spec: launchRequest({ vmId: 'clonevm000000001', kernel: { name: 'k', version: '1' } }).spec, snapshotId: id }), 20_000),
    };
    for (const [verb, call] of Object.entries(verbs)) {
      for (const bad of HOSTILE) {
        const r = await call(bad);
        const line = r.ok ? `${verb} ${JSON.stringify(bad.slice(0, 40))}: OK` : `${verb} ${JSON.stringify(bad.slice(0, 40))}: ${r.err.codeName} ${r.err.reason} ${r.err.details.slice(0, 80)}`;
        outcomes.push(line);
        expect(r.ok, line).toBe(false);
        if (!r.ok) {
          expect(r.err.codeName, line).toBe('INVALID_ARGUMENT');
          expect(`${r.err.details} ${JSON.stringify(r.err.metadata)}`, line).toMatch(/snapshot_id/);
          expect(r.err.opId, line).not.toBe('');
        }
      }
    }
    const del = await h.attacker.call('deleteSnapshot', { snapshotId: victimVm }, 20_000);
    const disks = await h.attacker.call('createDisksFromSnapshot', { vmId: 'clonevm000000001', snapshotId: victimVm }, 20_000);
    outcomes.push(`DeleteSnapshot <vm id>: ${del.ok ? `deleted=${String(del.res.deleted)}` : del.err.reason}`, `CreateDisksFromSnapshot <vm id>: ${disks.ok ? 'OK' : disks.err.reason}`);
    evidence(outcomes.join('\n'));
    expect(del.ok && del.res.deleted).toBe(false);
    expect(disks.ok ? 'OK' : disks.err.reason).toBe('SNAPSHOT_NOT_FOUND');
    expect(await lstat(path.join(h.helper.vmsDir, 'clonevm000000001')).catch(() => undefined)).toBeUndefined();
    await unchanged();
  });

  it('(d) has no route to hand privhelper a state file of its own: not by path, link or hard link into the root', async () => {
    const { h } = ctx;
    const own = path.join(h.daemonDirs.metricsDir, `.attacker-state-${process.pid}`);
    await h.attacker.writeFile(own, 'QEVM-forged-state');
    const byPath = await h.attacker.call('describeSnapshot', { snapshotId: own }, 20_000);
    const tried = {
      'describe by path': byPath.ok ? 'OK' : `${byPath.err.codeName} ${byPath.err.reason}`,
      'hard link as state.bin': await h.attacker.attempt('link', { target: own, path: path.join(dir, 'state.bin.forged') }),
      'symlink as a snapshot': await h.attacker.symlinkError(path.dirname(own), path.join(h.helper.snapshotsDir, 'e0e0e0e0e0e0e0e0')),
    };
    await h.attacker.rm(own);
    evidence(`attacker's own state file: ${JSON.stringify(tried)}`);
    expect(tried).toEqual({ 'describe by path': 'INVALID_ARGUMENT BAD_FIELD', 'hard link as state.bin': 'EACCES', 'symlink as a snapshot': 'EACCES' });
    await unchanged();
  });
});
