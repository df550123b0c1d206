import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ext4Image } from './attacks/disk-images.js';
import { takeOverDir } from './attacks/dirs.js';
import { createOverlayRequest, createWorkDiskRequest, MiB, vmId } from './attacks/requests.js';
import { outcomeLine } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type Victims } from './harness.js';

/**
 * Issue 11, item 7 and variants: the disk verbs check a path, then act on it by path, and
 * `<state>` (and so whatever root creates in it, `<state>/vms` included) is banger's. Race
 * tests keep a racer swapping for every attempt and try up to a bound; the attack counts as
 * working on the first attempt that changes a victim.
 *
 * v2 (root-owned disk root, disks by id): the attacker can no longer take `<state>/vms` over,
 * so the same racers are started on the paths privhelper would use and fail with EACCES;
 * privhelper must also open seeds and bases itself (O_NOFOLLOW) and create temp files with
 * O_EXCL in a directory fd.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: VM disks: ${skip}`);

/** Root-side check: VM disk files (and leftovers) under `<state>/vms/<id>` that contain the victim's secret. */
async function disksHolding(stateDir: string, id: string, v: Victims): Promise<string[]> {
  const dir = path.join(stateDir, 'vms', id);
  const out: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(path.join(dir, name)).catch(() => Buffer.alloc(0));
    if (text.includes(v.secretText)) out.push(`${path.join(dir, name)} holds the content of ${v.secret}`);
  }
  return out;
}

describe.skipIf(skip !== undefined)('security: VM disk verbs act on caller-controlled paths', () => {
  const ctx = useHarness({ guest: true });

  /**
   * Found in disk/manager.ts: CreateWorkDisk confines the seed path, then copies it by path.
   * A racer exchanges the seed with a symlink to the victim; privhelper copies the victim
   * into the VM's work disk, which the guest reads.
   */
  it('work-disk seed swapped for a symlink (exchange loop): no VM disk ends up holding a root-only file', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const dir = path.join(h.stateDir, 'images', 'attacker', 'seedrace');
    const seed = path.join(dir, 'work-seed.ext4');
    await ext4Image(h.attacker, seed);
    await h.attacker.symlink(v.secret, path.join(dir, 'alt'));
    const racer = await h.attacker.racer('exchange', [seed, path.join(dir, 'alt'), '300']);
    const leaks: string[] = [];
    const outcomes: string[] = [];
    for (let i = 0; i < 30 && leaks.length === 0; i++) {
      const id = vmId('seed');
      outcomes.push(outcomeLine(await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, seed, 16 * MiB))));
      leaks.push(...(await disksHolding(h.stateDir, id, v)));
    }
    const raced = await racer.stop();
    expect(leaks, `${outcomes.length} attempts, ${raced.swaps} swaps; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * Found in disk/manager.ts: the new disk is written to `<target>.partial`, which is never
   * confined; privhelper only removes it first. With `<state>/vms` taken over, a racer
   * re-creates the `.partial` name as a symlink the instant it is removed, and root's
   * copyFile writes the attacker's seed into the victim.
   */
  it('work.ext4.partial re-planted as a symlink (loop): CreateWorkDisk does not overwrite the victim', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const seed = path.join(h.stateDir, 'images', 'attacker', 'partial', 'work-seed.ext4');
    await ext4Image(h.attacker, seed);
    await takeOverDir(h.attacker, path.join(h.stateDir, 'vms'));
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 0; i < 5 && changes.length === 0; i++) {
      const id = vmId('partial');
      await h.attacker.mkdir(path.join(h.stateDir, 'vms', id));
      const racer = await h.attacker.racer('replant', [path.join(v.dir, 'passwd'), path.join(h.stateDir, 'vms', id, 'work.ext4.partial'), '0']);
      outcomes.push(outcomeLine(await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, seed, 16 * MiB))));
      await racer.stop();
      changes = await h.hostChanges(v, before);
    }
    expect(changes, `${outcomes.length} attempts; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
  });

  it('root.qcow2.partial re-planted as a symlink (loop): CreateOverlay does not write a qcow2 header into the victim', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    await takeOverDir(h.attacker, path.join(h.stateDir, 'vms'));
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 0; i < 5 && changes.length === 0; i++) {
      const id = vmId('ovl');
      await h.attacker.mkdir(path.join(h.stateDir, 'vms', id));
      const racer = await h.attacker.racer('replant', [path.join(v.dir, 'group'), path.join(h.stateDir, 'vms', id, 'root.qcow2.partial'), '0']);
      outcomes.push(outcomeLine(await h.attacker.call('createOverlay', createOverlayRequest(id, h.guest!.base))));
      await racer.stop();
      changes = await h.hostChanges(v, before);
    }
    expect(changes, `${outcomes.length} attempts; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
  });

  /**
   * Item 7: ResizeWorkDisk confines and fscks the work disk, then truncates it by path. With
   * `<state>/vms` taken over, a racer exchanges work.ext4 with a symlink to a 32 MiB victim;
   * a hit truncates the victim (grown, then cut back to the disk's old size when resize2fs
   * fails on it).
   */
  it('ResizeWorkDisk with work.ext4 exchanged for a symlink (loop): the victim is never truncated', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    await takeOverDir(h.attacker, path.join(h.stateDir, 'vms'));
    const id = vmId('resize');
    const dir = path.join(h.stateDir, 'vms', id);
    const work = path.join(dir, 'work.ext4');
    await ext4Image(h.attacker, work, '16M', ['-b', '4096']);
    await h.attacker.symlink(v.big, path.join(dir, 'alt'));
    const racer = await h.attacker.racer('exchange', [work, path.join(dir, 'alt'), '500']);
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 1; i <= 40 && changes.length === 0; i++) {
      outcomes.push(outcomeLine(await h.attacker.call('resizeWorkDisk', { path: work, sizeBytes: (16 + i) * MiB })));
      changes = await h.hostChanges(v, before);
    }
    const raced = await racer.stop();
    expect(changes, `${outcomes.length} attempts, ${raced.swaps} swaps; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
  });
});
