import { FailedPreconditionError } from '@banger/runtime/errors';
import { describe, expect, it } from 'vitest';
import type { CreateVmCommand } from '../domain/create-request.js';
import { noStageGate } from '../ports/operation.js';
import { FakeAgent, FakeFiles, FakeHost, FakeImages, MemoryVms, RecordingOperation } from '../testing/fakes.js';
import { MemoryConsoleLogs } from '../testing/memory-console-logs.js';
import { FakeSnapshotHost, MemorySnapshots } from '../testing/snapshot-fakes.js';
import { parseSubnet } from '../domain/addressing.js';
import { CreateVm } from './create.js';
import { CreateVmFromSnapshot } from './create-from-snapshot.js';
import { DeleteVm } from './delete.js';
import { SnapshotVm } from './snapshot.js';
import { undoLeftover } from './undo-leftover.js';
import { VmLocks } from './vm-locks.js';
import { WarmCreate } from './warm-create.js';
import { WarmImage } from './warm-image.js';

const GIB = 1024 ** 3;

/** vmd's create, warm create and image warm over the fakes of its ports, wired as daemon.ts does. */
function stack() {
  const host = new FakeHost();
  const rows = new MemoryVms();
  const images = new FakeImages();
  const snapshots = new MemorySnapshots(rows);
  const snapshotHost = new FakeSnapshotHost((id) => host.processes.has(id), host);
  const deps = {
    vms: rows,
    host,
    agent: new FakeAgent(),
    consoleLogs: new MemoryConsoleLogs(),
    bridge: 'br-test',
    subnet: parseSubnet('172.30.0.0/24'),
    sshPublicKey: 'ssh-ed25519 AAAAbanger banger',
    timeouts: { agentMs: 1000, serviceMs: 50 },
    gate: noStageGate,
    images,
    locks: new VmLocks(),
    files: new FakeFiles(),
    snapshots,
    snapshotHost,
  };
  const fromSnapshot = new CreateVmFromSnapshot(deps);
  const createVm = new CreateVm({ ...deps, warm: new WarmCreate({ ...deps, fromSnapshot }) });
  const snapshotVm = new SnapshotVm(deps);
  const deleteVm = new DeleteVm(deps);
  const warmImage = new WarmImage({ ...deps, create: createVm, snapshot: snapshotVm, deleteVm });
  /** A warm whose save never returns, as when vmd dies there: the promise is abandoned. */
  const dyingWarm = new WarmImage({ ...deps, create: createVm, snapshot: { run: () => new Promise<never>(() => undefined) }, deleteVm });
  const cmd = (over: Partial<CreateVmCommand> = {}): CreateVmCommand => ({
    name: 'dev',
    image: 'debian-bookworm',
    kernel: '',
    memoryMib: 1024,
    vcpus: 2,
    workDiskBytes: 4 * GIB,
    noWait: false,
    egress: { mode: 'allow', cidrs: [], hostnames: [] },
    sshAuthorizedKeys: [],
    hypervisor: 'qemu',
    autoForward: true,
    ...over,
  });
  const run = async (fn: (op: RecordingOperation) => Promise<unknown>) => {
    const op = new RecordingOperation();
    try {
      await fn(op);
      return { op, error: undefined };
    } catch (error) {
      return { op, error };
    }
  };
  return {
    host,
    rows,
    images,
    snapshots,
    snapshotHost,
    cmd,
    warm: (over: Partial<CreateVmCommand> = {}) => run((op) => warmImage.run(cmd({ name: 'warm-template-0001', cold: true, ...over }), op)),
    create: (over: Partial<CreateVmCommand> = {}) => run((op) => createVm.run(cmd(over), op)),
    names: () => [...rows.rows.values()].map((v) => v.name).sort(),
    dyingWarm: (op: RecordingOperation) => void dyingWarm.run(cmd({ name: 'warm-template-0002', cold: true }), op),
  };
}

/** The `path` stage's reason: what the create's events say about the path it took. */
function pathOf(op: RecordingOperation): string[] {
  return op.events.flatMap((e) => (e.type === 'stage_finished' && e.stage === 'path' ? [e.message ?? ''] : []));
}

describe('image warm', () => {
  it('boots a template cold, waits for its services, snapshots it as warm, deletes it', async () => {
    const s = stack();
    const { op, error } = await s.warm();
    expect(error).toBeUndefined();
    expect(op.events[0]).toMatchObject({ type: 'accepted', kind: 'image_warm', target: 'debian-bookworm' });
    expect(op.events.filter((e) => e.type === 'accepted')).toHaveLength(1);
    expect(op.stagesFinished()).toEqual(['path', 'preflight', 'reserve', 'network', 'disks', 'boot', 'agent', 'services', 'save', 'cleanup']);
    expect(pathOf(op)).toEqual(['cold: --cold']);
    // The template runs on shared RAM, so its snapshot is a template clones map copy-on-write.
    expect(s.host.launches.map((l) => l.sharedRam)).toEqual([true]);
    const [w] = await s.snapshots.list();
    expect(w).toMatchObject({ kind: 'warm', state: 'ready', imageName: 'debian-bookworm', imageFingerprint: 'f'.repeat(64), memoryMib: 1024, vcpus: 2, workDiskGib: 4 });
    expect(w?.name).toMatch(/^warm-debian-bookworm-1024m-2c-4g-[0-9a-f]{6}$/);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { snapshot: { id: w?.id, kind: 'warm' } } });
    expect(s.names()).toEqual([]);
    expect(s.host.processes.size).toBe(0);
  });

  it('records its template VM by name before creating it and forgets it once deleted; left behind, the undo step removes it', async () => {
    const s = stack();
    const { op } = await s.warm();
    expect([...op.resources.values()]).toEqual([]);
    const killed = new RecordingOperation('op-warm00000001');
    s.dyingWarm(killed);
    while (!s.names().includes('warm-template-0002') || s.rows.rows.size === 0 || [...s.rows.rows.values()].some((v) => v.state !== 'running')) await new Promise((r) => setTimeout(r, 1));
    const left = [...killed.resources.values()];
    expect(left).toEqual([{ kind: 'template_vm', ref: 'warm-template-0002', detail: {} }]);
    await undoLeftover({ host: s.host, vms: s.rows }, '', left[0]!);
    expect(s.names()).toEqual([]);
    expect(s.host.processes.size).toBe(0);
    await undoLeftover({ host: s.host, vms: s.rows }, '', left[0]!);
  });

  it('a second warm of the same image and shape replaces the first; another shape is kept', async () => {
    const s = stack();
    await s.warm();
    await s.warm({ memoryMib: 512 });
    const first = (await s.snapshots.list()).find((x) => x.memoryMib === 1024)!;
    const { op } = await s.warm();
    expect(op.stagesFinished().at(-1)).toBe('replace');
    const left = await s.snapshots.list();
    expect(left.map((x) => x.memoryMib).sort()).toEqual([1024, 512]);
    expect(left.some((x) => x.id === first.id)).toBe(false);
    expect(s.snapshotHost.files.has(first.id)).toBe(false);
  });

  it('a failed save deletes the template VM and leaves no snapshot', async () => {
    const s = stack();
    s.snapshotHost.failSnapshot = new FailedPreconditionError('NO_SPACE', 'no space for the snapshot (injected)');
    const { op, error } = await s.warm();
    expect(error).toBeDefined();
    expect(op.events.at(-1)).toMatchObject({ type: 'failure', stage: 'save', reason: 'NO_SPACE' });
    expect(op.events.filter((e) => e.type === 'failure')).toHaveLength(1);
    expect(s.names()).toEqual([]);
    expect(await s.snapshots.list()).toEqual([]);
    expect(s.snapshotHost.files.size).toBe(0);
  });
});

describe('vm create with warm snapshots', () => {
  it('with no warm snapshot the create boots, says why, and schedules no warm snapshot (made by image warm only)', async () => {
    const s = stack();
    const { op, error } = await s.create();
    expect(error).toBeUndefined();
    expect(pathOf(op)).toEqual(['cold: no warm snapshot for image debian-bookworm 1024M/2vcpu/4G']);
    expect(op.stagesFinished()).toContain('boot');
    await new Promise((r) => setTimeout(r, 20));
    expect(await s.snapshots.list()).toEqual([]);
    expect(s.snapshotHost.calls).toEqual([]);
  });

  it('the path stage asks imaged and privhelper once per create: preflight (cold) and the restore (warm) reuse its answers', async () => {
    const s = stack();
    const readiness = (): number => s.host.calls.filter((c) => c === 'readiness').length;
    const cold = await s.create();
    expect(cold.error).toBeUndefined();
    expect([s.images.resolved.length, readiness()]).toEqual([1, 1]);
    await s.warm({ name: 'warm-template-0002' });
    const [beforeWarm, readinessBefore] = [s.images.resolved.length, readiness()];
    const warm = await s.create({ name: 'dev-2' });
    expect(warm.error).toBeUndefined();
    expect(pathOf(warm.op)[0]).toMatch(/^warm: /);
    expect([s.images.resolved.length - beforeWarm, readiness() - readinessBefore]).toEqual([1, 1]);
    // A failed answer is reused too: preflight reports it, nothing is asked again.
    const unknown = await s.create({ name: 'dev-3', image: 'nope' });
    expect(unknown.op.events.at(-1)).toMatchObject({ type: 'failure', stage: 'preflight', reason: 'IMAGE_NOT_FOUND' });
    expect(s.images.resolved.filter((r) => r.ref === 'nope')).toHaveLength(1);
    // A host that cannot be asked: the path stage says so, preflight fails on that answer.
    s.host.failOn('readiness', undefined, 1);
    const helperDown = await s.create({ name: 'dev-4' });
    expect(pathOf(helperDown.op)).toEqual(['cold: warm snapshots could not be checked']);
    expect(helperDown.op.events.at(-1)).toMatchObject({ type: 'failure', stage: 'preflight', reason: 'HOST_FAULT' });
  });

  it('restores a matching warm snapshot by default; its events and the VM say which and why', async () => {
    const s = stack();
    await s.warm();
    const [w] = await s.snapshots.list();
    const { op, error } = await s.create();
    expect(error).toBeUndefined();
    const reason = `warm: snapshot ${w?.name ?? ''} for image debian-bookworm 1024M/2vcpu/4G`;
    expect(pathOf(op)).toEqual([reason]);
    expect(op.stagesFinished()).toEqual(['path', 'preflight', 'reserve', 'network', 'disks', 'restore', 'agent', 'identity', 'services']);
    expect(op.events.filter((e) => e.type === 'accepted')).toEqual([expect.objectContaining({ kind: 'vm_create', target: 'dev' })]);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { vm: { name: 'dev', spec: { createPath: reason } } } });
    const dev = [...s.rows.rows.values()].find((v) => v.name === 'dev');
    expect(dev).toMatchObject({ state: 'running', memoryMib: 1024, vcpus: 2, spec: { createPath: reason } });
    expect(s.snapshotHost.calls.filter((c) => c.startsWith('restore'))).toHaveLength(1);
  });

  it('--cold, another shape, or a field the warm path cannot give boots, and says why', async () => {
    const s = stack();
    await s.warm();
    const cases: [Partial<CreateVmCommand>, string][] = [
      [{ name: 'c1', cold: true }, 'cold: --cold'],
      [{ name: 'c2', memoryMib: 512 }, 'cold: no warm snapshot for image debian-bookworm 512M/2vcpu/4G'],
      [{ name: 'c3', sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2x user'] }, 'cold: --ssh-key (extra keys are installed by a boot)'],
    ];
    for (const [over, reason] of cases) {
      const { op, error } = await s.create(over);
      expect(error).toBeUndefined();
      expect(pathOf(op)).toEqual([reason]);
      expect(op.stagesFinished()).toContain('boot');
      expect(op.stagesFinished()).not.toContain('restore');
      expect([...s.rows.rows.values()].find((v) => v.name === over.name)?.spec.createPath).toBe(reason);
    }
    expect(s.snapshotHost.calls.filter((c) => c.startsWith('restore'))).toEqual([]);
  });

  it('a warm snapshot of an image that changed is not used: the create boots and the snapshot is discarded', async () => {
    const s = stack();
    await s.warm();
    const [w] = await s.snapshots.list();
    s.images.image = { ...s.images.image, id: 'img-debian-2', fingerprint: 'e'.repeat(64) };
    const { op, error } = await s.create();
    expect(error).toBeUndefined();
    expect(pathOf(op)).toEqual([`cold: warm snapshot ${w?.name ?? ''} stale (image changed)`]);
    expect(op.stagesFinished()).toContain('boot');
    expect(await s.snapshots.list()).toEqual([]);
    expect(s.snapshotHost.files.has(w!.id)).toBe(false);
  });

  it('a restore privhelper refuses as STATE_INCOMPATIBLE rolls the clone back, discards the snapshot and boots', async () => {
    const s = stack();
    await s.warm();
    const [w] = await s.snapshots.list();
    s.snapshotHost.failRestore = new FailedPreconditionError('STATE_INCOMPATIBLE', `snapshot ${w!.id} was saved on QEMU 7.1.0, this host runs 7.2.0`);
    const { op, error } = await s.create();
    expect(error).toBeUndefined();
    const paths = pathOf(op);
    expect(paths).toHaveLength(2);
    expect(paths[0]).toMatch(/^warm: /);
    expect(paths[1]).toBe(`cold: warm snapshot ${w?.name ?? ''} incompatible with this host (snapshot ${w?.id ?? ''} was saved on QEMU 7.1.0, this host runs 7.2.0)`);
    expect(op.events.some((e) => e.type === 'failure')).toBe(false);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { vm: { name: 'dev', spec: { createPath: paths[1] } } } });
    expect(s.names()).toEqual(['dev']);
    expect(s.host.processes.size).toBe(1);
    expect(await s.snapshots.list()).toEqual([]);
  });

  it('any other failure of the warm restore is the create failing: rolled back, one failure event, the snapshot kept', async () => {
    const s = stack();
    await s.warm();
    s.snapshotHost.failRestore = new FailedPreconditionError('STATE_CORRUPT', 'snapshot state is refused (injected)');
    const { op, error } = await s.create();
    expect(error).toBeDefined();
    expect(op.events.filter((e) => e.type === 'failure')).toEqual([expect.objectContaining({ stage: 'restore', reason: 'STATE_CORRUPT' })]);
    expect(s.names()).toEqual([]);
    expect(s.host.processes.size).toBe(0);
    expect(await s.snapshots.list()).toHaveLength(1);
  });
});
