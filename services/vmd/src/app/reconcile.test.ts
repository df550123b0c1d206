import { describe, expect, it } from 'vitest';
import { RecordingOperation } from '../testing/fakes.js';
import { interruptedOp, vmdHarness } from '../testing/harness.js';

describe('reconcile (start-up)', () => {
  it('undoes what an interrupted create left behind, process first and row last', async () => {
    const h = vmdHarness();
    // A create that got as far as the agent stage when vmd died.
    h.agent.hold();
    const op = new RecordingOperation('op-crashedcreate');
    void h.create({ name: 'crash' }, op);
    await op.untilStageStarted('agent');
    const id = h.vm('crash')?.id ?? '';
    const resources = [...op.resources.values()];
    expect(resources.map((r) => r.kind).sort()).toEqual(['dns_record', 'overlay', 'process', 'row', 'tap', 'work_disk']);
    h.host.calls.length = 0;

    const report = await h.reconcile([interruptedOp(resources, { opId: op.opId, target: 'crash' })]);
    expect(report.cleaned.map((c) => c.kind)).toEqual(['process', 'work_disk', 'overlay', 'tap', 'dns_record', 'row']);
    expect(report.cleaned.every((c) => c.ok)).toBe(true);
    expect(h.host.calls.slice(0, 4)).toEqual([`kill ${id}`, `removeWorkDisk /state/vms/${id}/work.ext4`, `removeRootOverlay /state/vms/${id}/root.qcow2`, `releaseTap ${id}`]);
    expect(h.vms()).toEqual([]);
    expect(h.host.leftovers()).toEqual([]);
    expect(h.host.dns).toEqual([]);
    h.agent.release();
  });

  it('keeps VMs whose hypervisor still runs, and stops the rows of those that vanished', async () => {
    const h = vmdHarness();
    await h.create({ name: 'alive' });
    await h.create({ name: 'gone' });
    const alive = h.vm('alive');
    const gone = h.vm('gone');
    h.host.processes.delete(gone?.id ?? '');
    const report = await h.reconcile();
    expect(report.rediscovered).toEqual([alive?.id]);
    expect(report.vanished).toEqual([gone?.id]);
    expect(h.vm('alive')).toMatchObject({ state: 'running', pid: alive?.pid });
    expect(h.vm('gone')).toMatchObject({ state: 'stopped', pid: null });
    // A stopped VM holds no tap; the running one keeps its own.
    expect([...h.host.taps.keys()]).toEqual([alive?.id]);
    expect(h.host.dns.map((r) => r.name).sort()).toEqual(['alive', 'gone']);
  });

  it('leaves stopped VMs alone', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.stop('dev');
    const report = await h.reconcile();
    expect(report).toMatchObject({ rediscovered: [], vanished: [] });
    expect(h.vm('dev')?.state).toBe('stopped');
  });

  it('reports a clean-up it could not do and carries on with the rest', async () => {
    const h = vmdHarness();
    h.host.failOn('removeRootOverlay');
    const report = await h.reconcile([
      interruptedOp([
        { kind: 'overlay', ref: '/state/vms/x/root.qcow2' },
        { kind: 'tap', ref: 'bt9' },
      ], { target: 'x' }),
    ]);
    expect(report.cleaned).toEqual([
      { opId: 'op-interrupted0', kind: 'overlay', ref: '/state/vms/x/root.qcow2', ok: false },
      { opId: 'op-interrupted0', kind: 'tap', ref: 'bt9', ok: true },
    ]);
  });

  it('treats a row that is already gone as cleaned', async () => {
    const h = vmdHarness();
    const report = await h.reconcile([interruptedOp([{ kind: 'row', ref: 'deadbeefdeadbeef' }])]);
    expect(report.cleaned).toEqual([{ opId: 'op-interrupted0', kind: 'row', ref: 'deadbeefdeadbeef', ok: true }]);
  });
});
