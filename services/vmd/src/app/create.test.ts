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

  it("boots the image's kernel (named in privhelper's store), init and kernel arguments with banger's key", async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    const launch = h.lastLaunch();
    expect(launch).toMatchObject({ kernel: h.images.image.storeKernel, memoryMib: 512, vcpus: 1 });
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

  it('stores the service secret the guest wrote, and refuses one with control characters', async () => {
    const h = vmdHarness();
    await h.create({ name: 'dev' });
    expect([...h.rows.rows.values()][0]?.credentials).toEqual([{ service: 'opencode', username: 'opencode', password: 's3cret' }]);
    const evil = vmdHarness();
    evil.agent.files.set('/etc/banger/secrets/opencode', 'pw\x1b]0;owned\x07\n');
    const { error } = await evil.create({ name: 'dev' });
    expect(error).toBeUndefined();
    expect([...evil.rows.rows.values()][0]?.credentials).toEqual([]);
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
    await op.untilStageStarted('agent');
    op.controller.abort(new Error('cancelled by test'));
    const { error } = await running;
    expect(error).toBeDefined();
    expect(op.failure()).toMatchObject({ stage: 'agent' });
    expectNothingLeft(h, op, 'dev');
  });

  it('fails at once when the hypervisor dies before the agent answers, and releases the VM in privhelper (run dir included)', async () => {
    const h = vmdHarness();
    h.agent.hold();
    const op = new RecordingOperation();
    const running = h.create({ name: 'dev' }, op);
    await op.untilStageStarted('agent');
    const vmId = [...h.host.processes.keys()][0] ?? '';
    h.host.processes.delete(vmId);
    const { error } = await running;
    expect(error).toMatchObject({ reason: 'HYPERVISOR_EXITED' });
    expect(op.failure()).toMatchObject({ stage: 'agent', reason: 'HYPERVISOR_EXITED' });
    expect(h.host.calls).toContain(`releaseVm ${vmId}`);
    expectNothingLeft(h, op, 'dev');
  });

  it('keeps a VM that is being created away from other lifecycle calls', async () => {
    const h = vmdHarness();
    h.agent.hold();
    const op = new RecordingOperation();
    const running = h.create({ name: 'dev' }, op);
    await op.untilStageStarted('agent');
    await expect(h.stop('dev')).rejects.toMatchObject({ code: 'ABORTED', reason: 'VM_BUSY' });
    await expect(h.delete('dev')).rejects.toMatchObject({ code: 'ABORTED', reason: 'VM_BUSY' });
    h.agent.release();
    expect((await running).error).toBeUndefined();
    expect(h.vm('dev')?.state).toBe('running');
  });

  it("writes the user's own keys into the guest's authorized_keys during the agent stage, and keeps them", async () => {
    const h = vmdHarness();
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Vq8Xwq9RkqG5C1b7yq0KX8bT+Ihw0W2f2dH4pG0mZ me@laptop';
    const { error } = await h.create({ name: 'dev', sshAuthorizedKeys: [key] });
    expect(error).toBeUndefined();
    expect(h.agent.authorizedKeys).toEqual([key]);
    expect(h.entity('dev')?.spec.sshAuthorizedKeys).toEqual([key]);
    // banger's own key still rides on the kernel command line.
    expect(h.lastLaunch()?.cmdline.some((a) => a.key === 'banger.ssh_key')).toBe(true);
  });

  it('rolls back when the guest does not take the keys', async () => {
    const h = vmdHarness();
    h.agent.exec = async () => ({ exitCode: 1, signal: '', timedOut: false, stdout: Buffer.alloc(0), stderr: Buffer.from('read-only file system'), stdoutTruncated: false, stderrTruncated: false });
    const { op, error } = await h.create({ name: 'dev', sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Vq8Xwq9RkqG5C1b7yq0KX8bT+Ihw0W2f2dH4pG0mZ'] });
    expect(error).toMatchObject({ reason: 'SSH_KEYS_NOT_AUTHORISED' });
    expect(op.failure()).toMatchObject({ stage: 'agent' });
    expectNothingLeft(h, op, 'dev');
  });

  it('boots the kernel asked for when imaged has it, and keeps it for later starts', async () => {
    const h = vmdHarness();
    const { error } = await h.create({ name: 'dev', kernel: 'debian-bookworm-generic' });
    expect(error).toBeUndefined();
    expect(h.images.resolved.at(-1)).toEqual({ ref: '', kernel: 'debian-bookworm-generic' });
    // privhelper boots the kernel from its own store, named, not by a path vmd sends.
    expect(h.lastLaunch()).toMatchObject({ kernel: { name: 'debian-bookworm-generic', version: '6.1.158-1' } });
    expect(h.entity('dev')?.spec.kernel).toEqual({ name: 'debian-bookworm-generic', version: '6.1.0-40-amd64' });
    await h.stop('dev');
    await h.start('dev');
    expect(h.lastLaunch()?.kernel).toEqual({ name: 'debian-bookworm-generic', version: '6.1.158-1' });
  });

  it('refuses a kernel imaged has not pulled, in preflight', async () => {
    const h = vmdHarness();
    const { op, error } = await h.create({ name: 'dev', kernel: 'no-such-kernel' });
    expect(error).toMatchObject({ code: 'NOT_FOUND', reason: 'KERNEL_NOT_FOUND', fields: { field: 'kernel' } });
    expect(op.failure()).toMatchObject({ stage: 'preflight' });
    expectNothingLeft(h, op, 'dev');
  });

  it('gives racing creates distinct addresses and taps', async () => {
    const h = vmdHarness();
    const results = await Promise.all([h.create({ name: 'a' }), h.create({ name: 'b' }), h.create({ name: 'c' })]);
    expect(results.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    const vms = h.vms();
    expect(new Set(vms.map((v) => v.ipv4)).size).toBe(3);
    expect(new Set(vms.map((v) => v.tap)).size).toBe(3);
    expect(h.host.dns.map((r) => r.name).sort()).toEqual(['a', 'b', 'c']);
  });

  it('records each resource with the VM it belongs to, for a clean-up after a crash', async () => {
    const h = vmdHarness();
    h.agent.hold();
    const op = new RecordingOperation();
    const running = h.create({ name: 'dev' }, op);
    await op.untilStageStarted('agent');
    const id = h.vm('dev')?.id;
    expect([...op.resources.values()].every((r) => r.detail?.['vm_id'] === id)).toBe(true);
    h.agent.release();
    await running;
  });

  it('passes each finished stage through the stage gate, which can fail it', async () => {
    const passed: string[] = [];
    const h = vmdHarness({
      gate: {
        passed: async (p) => {
          passed.push(`${p.kind}:${p.stage}`);
          if (p.stage === 'disks') throw new Error('gate says no');
        },
      },
    });
    const { op } = await h.create({ name: 'dev' });
    expect(passed).toEqual(['vm_create:preflight', 'vm_create:reserve', 'vm_create:network', 'vm_create:disks']);
    expect(op.failure()).toMatchObject({ stage: 'disks' });
    expectNothingLeft(h, op, 'dev');
  });
});
