import { describe, expect, it } from 'vitest';
import type { NewSnapshot } from '../domain/snapshot.js';
import { interruptedOp, vmdHarness } from '../testing/harness.js';
import { MemorySnapshots } from '../testing/snapshot-fakes.js';
import { abandonedSnapshotRow } from './gc-snapshots.js';

const MIB = 1 << 20;

function row(id: string, over: Partial<NewSnapshot> = {}): NewSnapshot {
  return { id, name: `s-${id}`, kind: 'named', imageFingerprint: '', state: 'ready', sourceVmId: 'vm-src', sourceVmName: 'src', imageId: 'img', imageName: 'debian', kernelId: null, vcpus: 1, memoryMib: 256, workDiskGib: 1, opId: null, ...over };
}

function setup() {
  const h = vmdHarness();
  const snapshots = new MemorySnapshots();
  let now = 5_000_000;
  const held = (id: string, partial = false, inProgress = false, sizeBytes = 300 * MIB): void => void h.host.heldSnapshots.set(id, { snapshotId: id, partial, inProgress, sizeBytes });
  const gc = (ops = [interruptedOp([])]) => h.collector(ops, { graceMs: 120_000, now: () => now, snapshots });
  return { h, snapshots, held, gc, tick: (ms: number) => void (now += ms) };
}

describe('collect garbage: snapshot files and rows', () => {
  it('removes snapshot dirs and partials no row names only after the grace, keeps those a row names, and a dry run removes nothing', async () => {
    const { h, snapshots, held, gc, tick } = setup();
    await snapshots.insert(row('aa00000000000001'));
    held('aa00000000000001');
    held('bb00000000000002');
    held('cc00000000000003', true, false, 4 * MIB);
    const pass = gc();
    const first = await pass.run({ dryRun: false });
    expect(first.snapshots.map((x) => [x.snapshotId, x.what, x.action, x.graceLeftMs])).toEqual([
      ['bb00000000000002', 'files', 'grace', 120_000],
      ['cc00000000000003', 'partial', 'grace', 120_000],
    ]);
    expect(first.pending).toBe(true);
    tick(120_000);
    expect((await pass.run({ dryRun: true })).snapshots.map((x) => x.action)).toEqual(['would_remove', 'would_remove']);
    expect(h.host.heldSnapshots.size).toBe(3);
    const done = await pass.run({ dryRun: false });
    expect(done.snapshots.map((x) => x.action)).toEqual(['removed', 'removed']);
    expect([...h.host.heldSnapshots.keys()]).toEqual(['aa00000000000001']);
    const after = await pass.run({ dryRun: false });
    expect(after.snapshots).toEqual([]);
    expect(after.pending).toBe(false);
  });

  it('never removes a partial privhelper is writing, nor stray files while a snapshot operation runs', async () => {
    const { h, held, gc, tick } = setup();
    held('dd00000000000004', true, true);
    held('ee00000000000005');
    const running = interruptedOp([], { opId: 'op-snapshotting', kind: 'vm_snapshot', state: 'running', error: null, finishedAt: null });
    const pass = gc([running]);
    await pass.run({ dryRun: false });
    tick(10 * 120_000);
    const report = await pass.run({ dryRun: false });
    expect(report.snapshots.map((x) => [x.snapshotId, x.action, x.detail])).toEqual([
      ['dd00000000000004', 'busy', 'privhelper is writing it'],
      ['ee00000000000005', 'busy', 'a snapshot operation that could own it is in flight'],
    ]);
    expect(h.host.heldSnapshots.size).toBe(2);
  });

  it('a row left `creating` by an operation that is gone loses its files, then its row; one whose operation runs is left alone', async () => {
    const { h, snapshots, held, gc } = setup();
    await snapshots.insert(row('ff00000000000006', { state: 'creating', opId: 'op-died0000000' }));
    await snapshots.insert(row('ab00000000000007', { state: 'creating', opId: 'op-running00000' }));
    held('ff00000000000006');
    held('ab00000000000007', true, true);
    const running = interruptedOp([], { opId: 'op-running00000', kind: 'vm_snapshot', state: 'running', error: null, finishedAt: null });
    const dry = await gc([running]).run({ dryRun: true });
    expect(dry.snapshots.map((x) => [x.snapshotId, x.what, x.action])).toEqual([['ff00000000000006', 'row', 'would_remove']]);
    expect(snapshots.rows.size).toBe(2);
    const report = await gc([running]).run({ dryRun: false });
    expect(report.snapshots).toEqual([expect.objectContaining({ snapshotId: 'ff00000000000006', name: 's-ff00000000000006', what: 'row', action: 'removed', sizeBytes: 300 * MIB })]);
    expect([...snapshots.rows.keys()]).toEqual(['ab00000000000007']);
    expect([...h.host.heldSnapshots.keys()]).toEqual(['ab00000000000007']);
  });

  it('waits while privhelper still writes the files of an abandoned row (vmd died, privhelper did not)', async () => {
    const { h, snapshots, held, gc } = setup();
    await snapshots.insert(row('ac00000000000008', { state: 'creating', opId: 'op-died0000000' }));
    held('ac00000000000008', true, true);
    expect((await gc().run({ dryRun: false })).snapshots).toEqual([expect.objectContaining({ what: 'row', action: 'busy', detail: 'privhelper is still writing its files' })]);
    expect(snapshots.rows.size).toBe(1);
    h.host.heldSnapshots.set('ac00000000000008', { snapshotId: 'ac00000000000008', partial: false, inProgress: false, sizeBytes: MIB });
    expect((await gc().run({ dryRun: false })).snapshots).toEqual([expect.objectContaining({ what: 'row', action: 'removed' })]);
    expect(snapshots.rows.size).toBe(0);
    expect(h.host.heldSnapshots.size).toBe(0);
  });

  it('reports the space snapshots, partials and saved states hold', async () => {
    const { snapshots, held, gc } = setup();
    await snapshots.insert(row('aa00000000000001'));
    await snapshots.insert(row('aa00000000000002'));
    held('aa00000000000001', false, false, 100 * MIB);
    held('aa00000000000002', false, false, 50 * MIB);
    held('aa00000000000003', true, true, 3 * MIB);
    expect((await gc().run({ dryRun: true })).space).toEqual({ snapshots: 2, snapshotBytes: 150 * MIB, partialSnapshotBytes: 3 * MIB, savedStates: 0, savedStateBytes: 0 });
  });

  it('a creating row is abandoned exactly when its operation is not running', () => {
    const running = [{ opId: 'op-a' }];
    expect(abandonedSnapshotRow({ state: 'creating', opId: 'op-a' }, running)).toBe(false);
    expect(abandonedSnapshotRow({ state: 'creating', opId: 'op-b' }, running)).toBe(true);
    expect(abandonedSnapshotRow({ state: 'creating', opId: null }, running)).toBe(true);
    expect(abandonedSnapshotRow({ state: 'ready', opId: 'op-b' }, running)).toBe(false);
  });
});
