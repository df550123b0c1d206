import { UnavailableError } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { RecordingOperation } from '../testing/fakes.js';
import { interruptedOp, vmdHarness } from '../testing/harness.js';
import { FakeSnapshotHost, MemorySnapshots } from '../testing/snapshot-fakes.js';
import { DeleteSnapshot } from './delete-snapshot.js';
import { GetSnapshot } from './get-snapshot.js';
import { ListSnapshots } from './list-snapshots.js';
import { PruneSnapshots } from './prune-snapshots.js';
import { SnapshotVm } from './snapshot.js';
import { VmLocks } from './vm-locks.js';

async function stack() {
  const h = vmdHarness({ serviceMs: 10 });
  await h.create({ name: 'dev' });
  const snapshots = new MemorySnapshots(h.rows);
  const snapshotHost = new FakeSnapshotHost((id) => h.host.processes.has(id));
  const deps = { vms: h.rows, snapshots, snapshotHost, locks: new VmLocks() };
  const take = async (ref: string, name: string) => {
    const op = new RecordingOperation();
    try {
      await new SnapshotVm(deps).run({ ref, name }, op);
      return { op, error: undefined };
    } catch (error) {
      return { op, error };
    }
  };
  return { h, snapshots, snapshotHost, deps, take };
}

describe('SnapshotVm', () => {
  it('snapshots a running VM, which keeps running; the row is ready with what privhelper reported', async () => {
    const { h, snapshots, snapshotHost, take } = await stack();
    const pid = h.vm('dev')?.pid;
    const { op, error } = await take('dev', 'before-upgrade');
    expect(error).toBeUndefined();
    expect(op.events[0]).toMatchObject({ type: 'accepted', kind: 'vm_snapshot', target: 'dev' });
    expect(op.stagesFinished()).toEqual(['save']);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { snapshot: { name: 'before-upgrade', state: 'ready', sourceVmName: 'dev' }, pause_ms: 1200 } });
    expect(h.vm('dev')).toMatchObject({ state: 'running', pid });
    const [row] = await snapshots.list();
    expect(row).toMatchObject({ name: 'before-upgrade', state: 'ready', sourceVmId: h.entity('dev')?.id, memoryMib: 512, workDiskGib: 2, files: { stateBytes: 260 << 20 } });
    expect([...snapshotHost.files.keys()]).toEqual([row?.id]);
  });

  it('refuses a bad or taken name and a stopped VM before privhelper is asked, changing nothing', async () => {
    const { h, snapshots, snapshotHost, take } = await stack();
    expect((await take('dev', 'Bad_Name')).error).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'INVALID_NAME' });
    await take('dev', 's1');
    expect((await take('dev', 's1')).error).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'SNAPSHOT_NAME_TAKEN' });
    await h.stop('dev');
    const stopped = await take('dev', 's2');
    expect(stopped.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'VM_NOT_RUNNING' });
    expect(stopped.op.events.at(-1)).toMatchObject({ type: 'failure', reason: 'VM_NOT_RUNNING' });
    expect((await snapshots.list()).map((s) => s.name)).toEqual(['s1']);
    expect(snapshotHost.calls.filter((c) => c.startsWith('snapshot'))).toHaveLength(1);
  });

  it('a failed save removes the row and whatever privhelper wrote under the id', async () => {
    const { h, snapshots, snapshotHost, take } = await stack();
    snapshotHost.failSnapshot = new UnavailableError('HELPER_UNAVAILABLE', 'privhelper went away (injected)');
    const { op, error } = await take('dev', 's1');
    expect(error).toBeDefined();
    expect(op.events.at(-1)).toMatchObject({ type: 'failure', stage: 'save', reason: 'HELPER_UNAVAILABLE' });
    expect(await snapshots.list()).toEqual([]);
    expect(snapshotHost.files.size).toBe(0);
    expect(h.vm('dev')?.state).toBe('running');
  });

  it('passes the stage gate after its save (where the fault matrix holds it), and a fault there rolls back too', async () => {
    const { h, snapshots, snapshotHost, deps } = await stack();
    const points: string[] = [];
    const gate = {
      passed: async (p: { kind: string; stage: string }) => {
        points.push(`${p.kind}/${p.stage}`);
        throw new UnavailableError('INJECTED_FAULT', 'injected fault after stage save');
      },
    };
    const op = new RecordingOperation();
    await expect(new SnapshotVm({ ...deps, gate }).run({ ref: 'dev', name: 's1' }, op)).rejects.toThrow(/injected fault after stage save/);
    expect(points).toEqual(['vm_snapshot/save']);
    expect(await snapshots.list()).toEqual([]);
    expect(snapshotHost.files.size).toBe(0);
    expect(h.vm('dev')?.state).toBe('running');
  });
});

describe('ListSnapshots, GetSnapshot, DeleteSnapshot, PruneSnapshots', () => {
  it('lists newest first (optionally by source VM), gets by name or id prefix, with clones', async () => {
    const { h, snapshots, deps, take } = await stack();
    await take('dev', 's1');
    await take('dev', 's2');
    const list = new ListSnapshots(deps);
    expect((await list.run({ source: '' })).map((s) => s.snapshot.name)).toEqual(['s2', 's1']);
    expect((await list.run({ source: 'dev' })).map((s) => s.snapshot.name)).toEqual(['s2', 's1']);
    await expect(list.run({ source: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const s1 = (await snapshots.findByName('s1'))!;
    snapshots.clones.set('dev', s1.id);
    expect(await new GetSnapshot(deps).run({ ref: s1.id.slice(0, 6) })).toMatchObject({ snapshot: { name: 's1' }, clones: ['dev'] });
    await expect(new GetSnapshot(deps).run({ ref: 'a b' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(h.vm('dev')?.state).toBe('running');
  });

  it('delete refuses a snapshot that clones depend on, naming them; otherwise removes files and row', async () => {
    const { snapshots, snapshotHost, deps, take } = await stack();
    await take('dev', 's1');
    const s1 = (await snapshots.findByName('s1'))!;
    snapshots.clones.set('dev', s1.id);
    await expect(new DeleteSnapshot(deps).run({ ref: 's1' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SNAPSHOT_IN_USE', fields: { clones: 'dev' } });
    expect(snapshotHost.files.size).toBe(1);
    snapshots.clones.clear();
    expect(await new DeleteSnapshot(deps).run({ ref: 's1' })).toMatchObject({ name: 's1' });
    expect(await snapshots.list()).toEqual([]);
    expect(snapshotHost.files.size).toBe(0);
    await expect(new DeleteSnapshot(deps).run({ ref: 's1' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('prune removes snapshots without clones past the cut-off and abandoned ones, never one being taken', async () => {
    const { snapshots, snapshotHost, deps, take } = await stack();
    await take('dev', 'old');
    await take('dev', 'kept');
    await take('dev', 'fresh');
    const hour = 3_600_000;
    const age = (name: string, ms: number) => {
      const s = [...snapshots.rows.values()].find((r) => r.name === name)!;
      snapshots.rows.set(s.id, { ...s, createdAt: new Date(Date.now() - ms) });
      return s.id;
    };
    age('old', 2 * hour);
    snapshots.clones.set('dev', age('kept', 2 * hour));
    // Fresh rows both: one left `creating` is abandoned by its operation being gone, not by its age.
    await snapshots.insert({ ...(await snapshots.findByName('fresh'))!, id: 'c0ffee00c0ffee00', name: 'taking', state: 'creating', opId: 'op-taking000000' });
    await snapshots.insert({ ...(await snapshots.findByName('fresh'))!, id: 'dead00dead00dead', name: 'abandoned', state: 'creating', opId: 'op-died00000000' });
    const running = [interruptedOp([], { opId: 'op-taking000000', kind: 'vm_snapshot', state: 'running', error: null, finishedAt: null })];
    const prune = new PruneSnapshots({ ...deps, operations: { list: async () => running } });
    expect((await prune.run({ olderThanMs: hour, dryRun: true })).map((s) => s.name).sort()).toEqual(['abandoned', 'old']);
    expect(snapshots.rows.size).toBe(5);
    expect((await prune.run({ olderThanMs: hour, dryRun: false })).map((s) => s.name).sort()).toEqual(['abandoned', 'old']);
    expect((await snapshots.list()).map((s) => s.name).sort()).toEqual(['fresh', 'kept', 'taking']);
    expect(snapshotHost.calls).toContain('delete dead00dead00dead');
    expect((await prune.run({ olderThanMs: 0, dryRun: false })).map((s) => s.name)).toEqual(['fresh']);
  });
});
