import { lstat, open, readdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOverlayRequest, createWorkDiskRequest, GiB, vmId } from './attacks/requests.js';
import { disksFor, outcomeLine, verdict } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness, type Victims } from './harness.js';
import { racerLine, type RacerReport } from './lib/attacker.js';
import { evidence } from './lib/evidence.js';

/**
 * Issue 11, item 7 and variants: v1's disk verbs checked a path, then acted on it by path in
 * banger-owned directories. v2 keeps VM disks in `<state>/helper/vms/<id>/` (root 0700) and
 * seeds and bases in the image store (root:banger 0750, files 0640): the same racers, started
 * on the paths privhelper now uses, keep trying for every attempt and are refused; the same
 * links planted there as root are cleared or refused by privhelper.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: VM disks: ${skip}`);

/** Root-side check: VM disk files (and leftovers) whose first MiB (where a copy of the victim would start) holds its secret. */
async function disksHolding(h: SecurityHarness, id: string, v: Victims): Promise<string[]> {
  const dir = path.join(h.helper.vmsDir, id);
  const out: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const fh = await open(path.join(dir, name), 'r').catch(() => undefined);
    if (!fh) continue;
    const head = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0).finally(() => fh.close());
    if (head.subarray(0, bytesRead).includes(v.secretText)) out.push(`${path.join(dir, name)} holds the content of ${v.secret}`);
  }
  return out;
}

function refusedOnly(r: RacerReport): { swaps: number; hits: number; errno: string } {
  return { swaps: r.swaps, hits: r.hits, errno: r.lastErrno };
}

describe.skipIf(skip !== undefined)('security: VM disk verbs and the directories they use', () => {
  const ctx = useHarness({ guest: true });

  /**
   * v1: CreateWorkDisk confined the caller's seed path, then copied it by path, and a racer
   * exchanged the seed with a link to the victim. v2: the seed is the image's, in the store;
   * the racer exchanging it for the whole run is refused; a seed that is a link (planted as
   * root) is refused by privhelper.
   */
  it('work-disk seed exchanged for a symlink (loop over 8 creates): no VM disk ends up holding a root-only file', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const img = await h.addStoreImage('seedrace');
    const alt = path.join(h.launch.home, 'seed.link');
    await h.attacker.symlink(v.secret, alt);
    const racer = await h.attacker.racer('exchange', [img.workSeed, alt, '300']);
    const leaks: string[] = [];
    const outcomes: string[] = [];
    for (let i = 0; i < 8 && leaks.length === 0; i++) {
      const id = vmId('seed');
      outcomes.push(outcomeLine(await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, img.id, GiB))));
      leaks.push(...(await disksHolding(h, id, v)));
    }
    const raced = await racer.stop();
    // The same link planted as root in the store.
    const bad = await h.addStoreImage('seedlink');
    await rm(bad.workSeed);
    await symlink(v.secret, bad.workSeed);
    const planted = await h.attacker.call('createWorkDisk', createWorkDiskRequest(vmId('seedlink'), bad.id, GiB));
    evidence(`${outcomes.length} creates during the loop (last: ${outcomes.at(-1) ?? ''}); ${racerLine(raced)}; root-planted seed link: ${outcomeLine(planted)}`);
    expect(leaks, `${outcomes.length} attempts, ${racerLine(raced)}; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
    expect(refusedOnly(raced)).toEqual({ swaps: 0, hits: 0, errno: 'EACCES' });
    expect(verdict(planted)).toBe('FAILED_PRECONDITION IMAGE_FILE_INVALID');
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * v1: the new disk was written to `<target>.partial`, never confined; a racer re-created that
   * name as a symlink the instant privhelper removed it. v2: the VM's disk dir is root-only,
   * the racer's symlink is refused every time; a leftover `.partial` link planted by root is
   * removed, not written through.
   */
  for (const kind of ['work.ext4', 'root.qcow2'] as const) {
    it(`${kind}.partial re-planted as a symlink (loop over 3 creates), and planted by root: the create does not write into the victim`, async () => {
      const { h } = ctx;
      const v = await h.victims();
      const before = await h.hostSnapshot(v);
      const victim = path.join(v.dir, kind === 'work.ext4' ? 'passwd' : 'group');
      const image = h.guestImage.id;
      // The VM's disk dir exists (privhelper made it for the other disk), as for any VM being created.
      const other = (id: string): Promise<unknown> =>
        kind === 'work.ext4' ? h.attacker.call('createOverlay', createOverlayRequest(id, image)) : h.attacker.call('createWorkDisk', createWorkDiskRequest(id, image, GiB));
      const create = async (id: string): Promise<string> =>
        outcomeLine(kind === 'work.ext4' ? await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, image, GiB)) : await h.attacker.call('createOverlay', createOverlayRequest(id, image)));
      const outcomes: string[] = [];
      const reports: RacerReport[] = [];
      for (let i = 0; i < 3; i++) {
        const id = vmId('partial');
        await other(id);
        const racer = await h.attacker.racer('replant', [victim, path.join(h.helper.vmsDir, id, `${kind}.partial`), '0']);
        outcomes.push(await create(id));
        reports.push(await racer.stop());
      }
      const id = vmId('rootlink');
      await other(id);
      await symlink(victim, path.join(h.helper.vmsDir, id, `${kind}.partial`));
      const planted = await create(id);
      const made = await lstat(path.join(h.helper.vmsDir, id, kind));
      const changes = await h.hostChanges(v, before);
      evidence(`creates with the racer: ${outcomes.join(' | ')}; ${reports.map(racerLine).join(' | ')}; root-planted ${kind}.partial link: ${planted}, ${kind} is ${made.isFile() ? 'a regular file' : 'not a regular file'}`);
      expect(changes, outcomes.join('\n')).toEqual([]);
      expect(outcomes.every((o) => o.startsWith('accepted')) && planted.startsWith('accepted'), `${outcomes.join('\n')}\n${planted}`).toBe(true);
      expect(reports.map((r) => ({ hits: r.hits, errno: r.lastErrno, tried: r.fails > 0 }))).toEqual(reports.map(() => ({ hits: 0, errno: 'EACCES', tried: true })));
      expect(made.isFile()).toBe(true);
    });
  }

  /**
   * Item 7: v1's ResizeWorkDisk confined and fscked the work disk, then truncated it by path,
   * with work.ext4 exchanged for a link to a 32 MiB victim by a racer. v2: the racer on the
   * VM's work.ext4 is refused for the whole run; a work.ext4 that is a link (planted as root)
   * is not found rather than followed.
   */
  it('ResizeWorkDisk with work.ext4 exchanged for a symlink (loop over 6 resizes): the victim is never truncated', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('resize');
    const { work } = await disksFor(h, id, { workGib: 1 });
    const alt = path.join(h.launch.home, 'big.link');
    await h.attacker.symlink(v.big, alt);
    const racer = await h.attacker.racer('exchange', [work ?? '', alt, '500']);
    const outcomes: string[] = [];
    let changes: string[] = [];
    for (let i = 1; i <= 6 && changes.length === 0; i++) {
      outcomes.push(outcomeLine(await h.attacker.call('resizeWorkDisk', { vmId: id, sizeBytes: (1 + i) * GiB })));
      changes = await h.hostChanges(v, before);
    }
    const raced = await racer.stop();
    await rm(work ?? '');
    await symlink(v.big, work ?? '');
    const planted = await h.attacker.call('resizeWorkDisk', { vmId: id, sizeBytes: 10 * GiB });
    changes = await h.hostChanges(v, before);
    evidence(`${outcomes.length} resizes (${outcomes.at(-1) ?? ''}); ${racerLine(raced)}; root-planted work.ext4 link: ${outcomeLine(planted)}`);
    expect(changes, `${outcomes.length} attempts, ${racerLine(raced)}; last: ${outcomes.at(-1) ?? ''}`).toEqual([]);
    expect(outcomes.every((o) => o.startsWith('accepted')), outcomes.join('\n')).toBe(true);
    expect(refusedOnly(raced)).toEqual({ swaps: 0, hits: 0, errno: 'EACCES' });
    expect(verdict(planted)).toBe('NOT_FOUND DISK_NOT_FOUND');
  });
});
