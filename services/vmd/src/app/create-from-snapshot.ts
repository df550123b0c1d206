import { AlreadyExistsError, FailedPreconditionError } from '@banger/runtime/errors';
import { failureEvent, StageFailure } from '@banger/runtime/ops';
import { log } from '@banger/runtime/logging';
import { validateVmName } from '../domain/names.js';
import type { Snapshot } from '../domain/snapshot.js';
import { NO_FILES, vmToJson, type Vm } from '../domain/vm.js';
import type { ImageCatalog, ResolvedImage } from '../ports/images.js';
import type { OperationHandle } from '../ports/operation.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import { BootStages, type BootDeps } from './boot-stages.js';
import { setCloneIdentity } from './clone-identity.js';
import { specOf } from './create.js';
import { findSnapshot } from './find-snapshot.js';
import { launchInputFor } from './launch-input.js';
import { reserveVm } from './reserve-vm.js';
import { Rollback } from './rollback.js';
import type { VmLocks } from './vm-locks.js';

const GIB = 1024 ** 3;

export interface CreateVmFromSnapshotDeps extends BootDeps {
  images: ImageCatalog;
  locks: VmLocks;
  snapshots: SnapshotRepository;
  snapshotHost: SnapshotHost;
}

/**
 * CreateVmFromSnapshot: a new VM (a clone) from a snapshot, as stages: preflight → reserve →
 * network → disks (copies of the frozen ones) → restore (the snapshot's state, checked by
 * privhelper) → agent → identity → services. Every resource is recorded on the operation as it
 * is made and undone in reverse order on failure, as for a create.
 */
export class CreateVmFromSnapshot {
  constructor(private readonly deps: CreateVmFromSnapshotDeps) {}

  /** `image`: the snapshot's image when the caller (the warm path) has just resolved it. */
  async run(cmd: { snapshot: string; name: string; noWait: boolean; image?: ResolvedImage }, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { deps } = this;
    let vmId = '';
    const rollback = new Rollback(op, () => vmId);
    const stages = new BootStages(deps, op, 'vm_create', rollback);
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_create', target: cmd.name });
    try {
      const { snapshot, image } = await stages.run('preflight', 'snapshot ready, image resolvable, name free', () => this.preflight(cmd));
      const reserved = await stages.run('reserve', 'record the VM and allocate its address', async () => {
        const vm = await this.reserve(cmd.name, snapshot, image, op.opId);
        vmId = vm.id;
        await rollback.add('row', vm.id, () => this.dropRow(vm.id));
        return vm;
      });
      await deps.locks.with(reserved.id, 'create', async () => {
        let vm = await stages.network(reserved, { owned: true });
        vm = await stages.run('disks', `copies of snapshot ${snapshot.name}'s frozen disks`, async () => {
          const d = await deps.snapshotHost.createDisksFromSnapshot(vm.id, snapshot.id);
          await rollback.add('overlay', d.rootDisk, () => deps.host.removeRootOverlay({ vmId: vm.id, path: d.rootDisk }));
          if (d.workDisk !== '') await rollback.add('work_disk', d.workDisk, () => deps.host.removeWorkDisk({ vmId: vm.id, path: d.workDisk }));
          return deps.vms.update(vm.id, { files: { ...vm.files, rootDisk: d.rootDisk, workDisk: d.workDisk } });
        });
        vm = await stages.run('restore', `state of snapshot ${snapshot.name} (${snapshot.memoryMib} MiB)`, async () => {
          const p = await deps.snapshotHost.restoreSnapshot(launchInputFor(vm, deps.subnet, deps.sshPublicKey), snapshot.id);
          stages.consoleLog = p.consoleLog;
          await rollback.add('process', String(p.pid), async () => void (await deps.host.kill(vm.id)));
          return deps.vms.update(vm.id, { pid: p.pid, files: { ...vm.files, agentSocket: p.agentSocket, consoleLog: p.consoleLog } });
        });
        await stages.agent(vm, []);
        const identity = await stages.run('identity', `MAC ${vm.network.mac ?? ''}, ${vm.network.ipv4 ?? ''}, hostname ${vm.name}, machine-id, SSH host keys, clock, RNG reseed`, () => setCloneIdentity(deps, vm));
        vm = await deps.vms.update(vm.id, { spec: { ...vm.spec, sshHostKeys: identity.sshHostKeys } });
        vm = await deps.vms.update(vm.id, { credentials: await stages.readSecrets(vm, vm.spec.services) });
        await stages.services(vm, { noWait: cmd.noWait });
        const ready = await deps.vms.transition(vm.id, 'running', { startedAt: new Date() });
        await rollback.commit();
        await op.emit({ type: 'result', result: { vm: vmToJson(ready) } });
      });
      return { targetId: vmId, vmId };
    } catch (err) {
      const stage = err instanceof StageFailure ? err.stage : '';
      const tail = ['restore', 'agent', 'identity', 'services'].includes(stage) ? await stages.consoleTail() : undefined;
      const rolledBack = await rollback.undo();
      await op.emit({ ...failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}), rolledBack: rolledBack.undone, leftovers: rolledBack.leftovers });
      throw err;
    }
  }

  private async preflight(cmd: { snapshot: string; name: string; image?: ResolvedImage }): Promise<{ snapshot: Snapshot; image: ResolvedImage }> {
    const { vms, images, snapshots } = this.deps;
    const name = validateVmName(cmd.name, 'name');
    const snapshot = await findSnapshot(snapshots, cmd.snapshot, 'snapshot');
    if (snapshot.state !== 'ready') throw new FailedPreconditionError('SNAPSHOT_NOT_READY', `snapshot ${snapshot.name} is still being taken`, { fields: { snapshot: snapshot.name } });
    if ((await vms.findByName(name)) !== undefined) throw new AlreadyExistsError('vm', name, 'VM_NAME_TAKEN', { fields: { field: 'name' } });
    return { snapshot, image: cmd.image?.id === snapshot.imageId ? cmd.image : await images.resolve(snapshot.imageId) };
  }

  private reserve(name: string, snapshot: Snapshot, image: ResolvedImage, opId: string): Promise<Vm> {
    const spec = specOf(image, { workDiskBytes: snapshot.workDiskGib * GIB, sshAuthorizedKeys: [], hypervisor: 'qemu', autoForward: true });
    return reserveVm(this.deps, {
      name,
      state: 'creating',
      vcpus: snapshot.vcpus,
      memoryMib: snapshot.memoryMib,
      spec,
      files: { ...NO_FILES },
      egress: { mode: 'allow', cidrs: [], hostnames: [] },
      credentials: [],
      createOpId: opId,
    });
  }

  private async dropRow(vmId: string): Promise<void> {
    await this.deps.host.releaseVm(vmId).catch((err: unknown) => log().warn({ err, vm_id: vmId }, 'could not release the VM in privhelper; the janitor removes what is left'));
    await this.deps.vms.delete(vmId);
  }
}
