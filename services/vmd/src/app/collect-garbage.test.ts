import { UnavailableError } from '@banger/runtime/errors';
import { describe, expect, it } from 'vitest';
import { interruptedOp, vmdHarness } from '../testing/harness.js';
import { RecordingOperation } from '../testing/fakes.js';

const helperDown = () => new UnavailableError('HELPER_UNAVAILABLE', 'privhelper is unavailable: Connection dropped', { fields: { daemon: 'privhelper' } });

describe('collect garbage (banger system gc, the janitor pass)', () => {
  it('retries a leftover a failed create recorded until privhelper is back, then forgets it on the record', async () => {
    const h = vmdHarness();
    h.host.failOn('createWorkDisk');
    h.host.failOn('removeRootOverlay', helperDown());
    h.host.failOn('releaseVm', helperDown());
    const created = await h.create({ name: 'f1' });
    expect(created.error).toMatchObject({ code: 'UNAVAILABLE' });
    const left = [...created.op.resources.values()];
    expect(left.map((r) => r.kind)).toEqual(['overlay']);
    expect(h.host.leftovers()).toEqual([`overlay:${left[0]?.ref}`]);
    const op = interruptedOp(left, { opId: created.op.opId, state: 'failed' });
    const gc = h.collector([op]);

    const down = await gc.run({ dryRun: false });
    expect(down.leftovers).toEqual([expect.objectContaining({ opId: op.opId, kind: 'overlay', action: 'failed' })]);
    expect(down).toMatchObject({ pending: true, helperReachable: false });
    expect(op.resources).toHaveLength(1);

    h.host.heal('removeRootOverlay');
    h.host.heal('releaseVm');
    const back = await gc.run({ dryRun: false });
    expect(back.leftovers).toEqual([expect.objectContaining({ kind: 'overlay', action: 'removed' })]);
    expect(back.pending).toBe(false);
    expect(op.resources).toEqual([]);
    expect(h.host.leftovers()).toEqual([]);
  });

  it('leaves a resource a VM took over since (a later start gave it its tap again) and only drops the record', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const vm = h.vm('dev');
    const op = interruptedOp([{ kind: 'tap', ref: vm?.tap ?? '', detail: { vm_id: vm?.id ?? '' } }], { opId: 'op-oldstart0000', kind: 'vm_start', state: 'failed' });
    const report = await h.collector([op]).run({ dryRun: false });
    expect(report.leftovers).toEqual([expect.objectContaining({ kind: 'tap', action: 'adopted' })]);
    expect(h.host.taps.get(vm?.id ?? '')).toBe(vm?.tap);
    expect(op.resources).toEqual([]);
  });

  it('removes an orphan no row owns only after the grace, and a dry run removes nothing', async () => {
    const h = vmdHarness();
    let now = 1_000_000;
    h.host.strayDirs.add('orphan01');
    h.host.taps.set('orphan01', 'bt9');
    const gc = h.collector([], { graceMs: 120_000, now: () => now });

    const first = await gc.run({ dryRun: false });
    expect(first.orphans).toEqual([expect.objectContaining({ vmId: 'orphan01', scope: 'vm', action: 'grace', graceLeftMs: 120_000, held: ['tap bt9', 'disk dir (root.qcow2.partial)'] })]);
    now += 119_000;
    expect((await gc.run({ dryRun: false })).orphans[0]).toMatchObject({ action: 'grace', graceLeftMs: 1000 });
    now += 1000;
    expect((await gc.run({ dryRun: true })).orphans[0]).toMatchObject({ action: 'would_remove' });
    expect(h.host.strayDirs.has('orphan01')).toBe(true);
    const done = await gc.run({ dryRun: false });
    expect(done.orphans[0]).toMatchObject({ action: 'removed' });
    expect(h.host.calls).toContain('releaseVm orphan01');
    expect(h.host.leftovers()).toEqual([]);
    expect(h.host.strayDirs.size).toBe(0);
    expect((await gc.run({ dryRun: false })).orphans).toEqual([]);
  });

  it('never touches what a running operation could own, whatever the grace', async () => {
    const h = vmdHarness();
    h.host.strayDirs.add('creating1');
    const running = interruptedOp([{ kind: 'overlay', ref: '/state/vms/creating1/root.qcow2', detail: { vm_id: 'creating1' } }], { opId: 'op-running00000', state: 'running', error: null, finishedAt: null });
    const report = await h.collector([running], { graceMs: 0 }).run({ dryRun: false });
    expect(report.orphans).toEqual([expect.objectContaining({ vmId: 'creating1', action: 'busy' })]);
    expect(h.host.strayDirs.has('creating1')).toBe(true);
    expect(report.leftovers).toEqual([]);
  });

  it('releases the tap a stopped VM still holds, and resyncs DNS records that drifted from the rows', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.stop('dev');
    const id = h.vm('dev')?.id ?? '';
    h.host.taps.set(id, 'bt7');
    h.host.dns = [{ name: 'ghost', ipv4: '172.30.0.9' }];
    const report = await h.collector([], { graceMs: 0 }).run({ dryRun: false });
    expect(report.orphans).toEqual([expect.objectContaining({ vmId: id, scope: 'tap', action: 'removed', held: ['tap bt7'] })]);
    expect(h.host.taps.has(id)).toBe(false);
    expect(h.host.dns.map((r) => r.name)).toEqual(['dev']);
    expect(report.dnsDrift).toEqual([]);
    expect(h.vm('dev')?.state).toBe('stopped');
  });

  it('finds a fence whose tap is gone (only its nft elements left) and removes it after the grace, never while an operation could own it', async () => {
    const h = vmdHarness();
    let now = 1_000_000;
    h.host.fences.set('fenced01', { ipv4: '172.30.0.40', mac: '02:00:00:00:00:40', egress: { mode: 'allow', cidrs: [], hostnames: [] } });
    h.host.fenceTaps.set('fenced01', 'bt4');
    const running = interruptedOp([], { opId: 'op-running00001', target: 'fenced01', state: 'running', error: null, finishedAt: null });
    const busy = await h.collector([running], { graceMs: 0 }).run({ dryRun: false });
    expect(busy.orphans).toEqual([expect.objectContaining({ vmId: 'fenced01', scope: 'vm', action: 'busy', held: ['nft fence 172.30.0.40 on bt4'] })]);
    expect(h.host.fences.has('fenced01')).toBe(true);

    const gc = h.collector([], { graceMs: 120_000, now: () => now });
    expect((await gc.run({ dryRun: false })).orphans).toEqual([expect.objectContaining({ vmId: 'fenced01', action: 'grace', graceLeftMs: 120_000 })]);
    now += 119_999;
    expect((await gc.run({ dryRun: false })).orphans[0]).toMatchObject({ action: 'grace', graceLeftMs: 1 });
    expect(h.host.fences.has('fenced01')).toBe(true);
    now += 1;
    expect((await gc.run({ dryRun: false })).orphans[0]).toMatchObject({ action: 'removed' });
    expect(h.host.calls).toContain('releaseVm fenced01');
    expect(h.host.fences.has('fenced01')).toBe(false);
    expect(h.host.leftovers()).toEqual([]);
  });

  it("releases a stopped VM's fence left without its tap", async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.stop('dev');
    const id = h.vm('dev')?.id ?? '';
    h.host.fences.set(id, { ipv4: '172.30.0.41', mac: '02:00:00:00:00:41', egress: { mode: 'allow', cidrs: [], hostnames: [] } });
    h.host.fenceTaps.set(id, 'bt5');
    const report = await h.collector([], { graceMs: 0 }).run({ dryRun: false });
    expect(report.orphans).toEqual([expect.objectContaining({ vmId: id, scope: 'tap', action: 'removed', held: ['nft fence 172.30.0.41 on bt5'] })]);
    expect(h.host.fences.has(id)).toBe(false);
    expect(h.vm('dev')?.state).toBe('stopped');
  });

  it('skips a VM whose lock is held: the next pass retries', async () => {
    const h = vmdHarness();
    h.agent.hold();
    const op = new RecordingOperation('op-inflight0000');
    void h.create({ name: 'slow' }, op);
    await op.untilStageStarted('agent');
    const id = h.vm('slow')?.id ?? '';
    const stale = interruptedOp([{ kind: 'tap', ref: 'bt0', detail: { vm_id: id } }], { opId: 'op-stale0000000', state: 'failed' });
    const report = await h.collector([stale], { graceMs: 0 }).run({ dryRun: false });
    expect(report.leftovers).toEqual([expect.objectContaining({ action: 'busy' })]);
    expect(stale.resources).toHaveLength(1);
    h.agent.release();
  });
});

describe('collect garbage: VMs a failed stop or delete left in a transient state', () => {
  it('aligns a VM whose stop failed with privhelper down (left stopping, its hypervisor alive) back to running once privhelper is back', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    h.host.failOn('stop', helperDown(), 1);
    await expect(h.stop('dev')).rejects.toMatchObject({ reason: 'HELPER_UNAVAILABLE' });
    expect(h.vm('dev')?.state).toBe('stopping');
    const gc = h.collector([]);
    expect((await gc.run({ dryRun: true })).realigned).toEqual([expect.objectContaining({ name: 'dev', from: 'stopping' })]);
    expect(h.vm('dev')?.state).toBe('stopping');
    const report = await gc.run({ dryRun: false });
    expect(report.realigned).toEqual([expect.objectContaining({ name: 'dev', from: 'stopping', to: 'running' })]);
    expect(h.vm('dev')?.state).toBe('running');
    await h.stop('dev');
    expect(h.vm('dev')?.state).toBe('stopped');
  });

  it('finishes a delete that failed half-way (the VM may have lost its disks), and leaves a VM an operation still runs on', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.create({ name: 'busy' });
    h.host.failOn('releaseTap', helperDown(), 1);
    await expect(h.delete('dev', { force: true })).rejects.toMatchObject({ reason: 'HELPER_UNAVAILABLE' });
    expect(h.vm('dev')?.state).toBe('deleting');
    h.host.failOn('stop', helperDown(), 1);
    await expect(h.stop('busy')).rejects.toMatchObject({ reason: 'HELPER_UNAVAILABLE' });
    const busy = h.vm('busy');
    const running = interruptedOp([], { opId: 'op-running000000', kind: 'vm_restart', state: 'running' });
    running.target = busy?.id ?? '';
    const report = await h.collector([running]).run({ dryRun: false });
    expect(report.realigned).toEqual([expect.objectContaining({ name: 'dev', from: 'deleting', to: 'deleted' })]);
    expect(h.vm('dev')).toBeUndefined();
    expect(h.vm('busy')?.state).toBe('stopping');
  });
});

describe('collect garbage: DNS resync', () => {
  it('does not write the record set while an operation runs (a create rolling back its name), and does once none does', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    await h.host.syncDns([]);
    const running = interruptedOp([], { opId: 'op-running000001', kind: 'vm_create', state: 'running' });
    const busy = await h.collector([running]).run({ dryRun: false });
    expect(busy.dnsDrift).toEqual(['+dev']);
    expect(busy.pending).toBe(true);
    expect(h.host.dns).toEqual([]);
    const idle = await h.collector([]).run({ dryRun: false });
    expect(idle.dnsDrift).toEqual([]);
    expect(h.host.dns.map((r) => r.name)).toEqual(['dev']);
  });
});
