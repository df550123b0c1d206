import { UnavailableError } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { RecordingOperation } from '../testing/fakes.js';
import { vmdHarness, type VmdHarness } from '../testing/harness.js';

const CREATE_STAGES = ['preflight', 'reserve', 'network', 'disks', 'boot', 'agent', 'services'];

/** A failed create leaves nothing: no host resource, no row, no DNS record, no held resource on the operation. */
function expectNothingLeft(h: VmdHarness, op: RecordingOperation, name: string): void {
  expect(h.host.leftovers()).toEqual([]);
  expect(h.vms()).toEqual([]);
  expect(h.host.dns.map((r) => r.name)).not.toContain(name);
  expect([...op.resources.keys()]).toEqual([]);
}

describe('CreateVm', () => {
  it('runs every stage in order and ends with the VM running, its resources handed to the VM', async () => {
    const h = vmdHarness();
    const { op, error } = await h.create({ name: 'dev' });
    expect(error).toBeUndefined();
    expect(op.events[0]).toMatchObject({ type: 'accepted', opId: op.opId, kind: 'vm_create', target: 'dev' });
    expect(op.stagesFinished()).toEqual(CREATE_STAGES);
    const vm = h.vm('dev');
    expect(vm).toMatchObject({ state: 'running', tap: 'bt0', ipv4: '172.30.0.2' });
    expect(vm?.pid).toBeGreaterThan(0);
    expect(h.host.dns).toEqual([{ name: 'dev', ipv4: '172.30.0.2' }]);
    expect(h.host.leftovers().sort()).toEqual([`overlay:/state/vms/${vm?.id}/root.qcow2`, `process:${vm?.id}`, `tap:${vm?.id}`, `work_disk:/state/vms/${vm?.id}/work.ext4`].sort());
    // Committed: the operation no longer holds anything a restart would clean up.
    expect([...op.resources.keys()]).toEqual([]);
    const result = op.events.at(-1);
    expect(result).toMatchObject({ type: 'result' });
  });

  it("boots the image's kernel, initrd, init and kernel arguments with banger's key", async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const launch = h.lastLaunch();
    expect(launch).toMatchObject({ kernelPath: h.images.image.kernelPath, initrdPath: h.images.image.initrdPath, memoryMib: 512, vcpus: 1, tap: 'bt0' });
    const keys = launch?.cmdline.map((a) => a.key) ?? [];
    expect(keys).toContain('banger.ssh_key');
    expect(launch?.cmdline.find((a) => a.key === 'init')?.value).toBe('/sbin/init');
    expect(keys.slice(-2)).toEqual(['quiet', 'net.ifnames']);
  });

  it('skips waiting for services with no_wait, and still reads the service secrets', async () => {
    const h = vmdHarness();
    h.agent.listening.clear();
    const { op, error } = await h.create({ name: 'dev', noWait: true });
    expect(error).toBeUndefined();
    const skipped = op.events.find((e) => e.type === 'stage_finished' && e.stage === 'services');
    expect(skipped).toMatchObject({ skipped: true });
    expect(h.agent.execs.filter((e) => e.argv[0] === 'ss')).toEqual([]);
  });

  it('refuses a host that cannot run VMs in preflight, before anything exists', async () => {
    const h = vmdHarness();
    h.host.blockers = [{ name: 'kvm', detail: '/dev/kvm missing', fix: 'load kvm' }];
    const { op, error } = await h.create({ name: 'dev' });
    expect(error).toMatchObject({ reason: 'HOST_NOT_READY' });
    expect(op.failure()).toMatchObject({ stage: 'preflight', reason: 'HOST_NOT_READY', code: 'FAILED_PRECONDITION' });
    expectNothingLeft(h, op, 'dev');
  });

  it('refuses a taken name and an unknown image in preflight', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const taken = await h.create({ name: 'dev' });
    expect(taken.error).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'VM_NAME_TAKEN' });
    expect(taken.op.failure()).toMatchObject({ stage: 'preflight' });
    const missing = await h.create({ name: 'other', image: 'nope' });
    expect(missing.error).toMatchObject({ code: 'NOT_FOUND' });
    expect(h.vms().map((v) => v.name)).toEqual(['dev']);
  });

  // Each case fails one host or agent call; everything made before it must be undone.
  const faults: { stage: string; arrange: (h: VmdHarness) => void }[] = [
    { stage: 'reserve', arrange: (h) => h.rows.failOn('insert') },
    { stage: 'network', arrange: (h) => h.host.failOn('ensureNetwork') },
    { stage: 'network', arrange: (h) => h.host.failOn('acquireTap') },
    { stage: 'network', arrange: (h) => h.host.failOn('syncDns', undefined, 1) },
    { stage: 'disks', arrange: (h) => h.host.failOn('createWorkDisk') },
    { stage: 'disks', arrange: (h) => h.host.failOn('createRootOverlay') },
    { stage: 'boot', arrange: (h) => h.host.failOn('launch') },
    { stage: 'agent', arrange: (h) => (h.agent.notReady = new UnavailableError('AGENT_UNREACHABLE', 'agent never answered')) },
    { stage: 'services', arrange: (h) => h.agent.listening.clear() },
  ];

  it.each(faults.map((f, i) => [f.stage, i, f] as const))('a failure in stage %s (case %i) rolls back everything before it', async (stage, _i, f) => {
    const h = vmdHarness({ serviceMs: 10 });
    f.arrange(h);
    const { op, error } = await h.create({ name: 'dev' });
    expect(error).toBeDefined();
    const failure = op.failure();
    expect(failure).toMatchObject({ stage, opId: op.opId });
    expectNothingLeft(h, op, 'dev');
    expect(failure?.leftovers).toEqual([]);
    // Undone in reverse order of creation; the row (made in reserve) is always the last.
    const undone = failure?.rolledBack?.map((r) => r.kind) ?? [];
    if (stage !== 'reserve') expect(undone.at(-1)).toBe('row');
    if (['boot', 'agent', 'services'].includes(stage)) expect(undone.slice(0, 1)).toEqual([stage === 'boot' ? 'work_disk' : 'process']);
    expect(op.stagesFinished()).toEqual(CREATE_STAGES.slice(0, CREATE_STAGES.indexOf(stage)));
  });

  it('reports what it could not undo as leftovers, recorded on the operation for the next start-up', async () => {
    const h = vmdHarness();
    h.host.failOn('launch');
    h.host.failOn('removeWorkDisk');
    const { op } = await h.create({ name: 'dev' });
    const failure = op.failure();
    expect(failure?.leftovers?.map((l) => l.kind)).toEqual(['work_disk']);
    expect([...op.resources.values()].map((r) => r.kind)).toEqual(['work_disk']);
    expect(h.vms()).toEqual([]);
  });

  it('rolls back when the operation is cancelled while waiting for the agent', async () => {
    const h = vmdHarness();
    h.agent.hold();
    const op = new RecordingOperation();
    const running = h.create({ name: 'dev' }, op);
    while (!op.events.some((e) => e.type === 'stage_started' && e.stage === 'agent')) await new Promise((r) => setTimeout(r, 1));
    op.controller.abort(new Error('cancelled by test'));
    const { error } = await running;
    expect(error).toBeDefined();
    expect(op.failure()).toMatchObject({ stage: 'agent' });
    expectNothingLeft(h, op, 'dev');
  });

  it('keeps a VM that is being created away from other lifecycle calls', async () => {
    const h = vmdHarness();
    h.agent.hold();
    const op = new RecordingOperation();
    const running = h.create({ name: 'dev' }, op);
    while (!op.events.some((e) => e.type === 'stage_started' && e.stage === 'agent')) await new Promise((r) => setTimeout(r, 1));
    await expect(h.stop('dev')).rejects.toMatchObject({ code: 'ABORTED', reason: 'VM_BUSY' });
    await expect(h.delete('dev')).rejects.toMatchObject({ code: 'ABORTED', reason: 'VM_BUSY' });
    h.agent.release();
    expect((await running).error).toBeUndefined();
    expect(h.vm('dev')?.state).toBe('running');
  });
});
