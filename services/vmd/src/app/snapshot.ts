import { randomBytes } from 'node:crypto';
import { FailedPreconditionError } from '@banger/runtime/errors';
import { failureEvent } from '@banger/runtime/ops';
import { validateVmName } from '../domain/names.js';
import { snapshotToJson, type Snapshot, type SnapshotKind } from '../domain/snapshot.js';
import type { OperationHandle, StageGate } from '../ports/operation.js';
import type { SnapshotHost, SnapshotRepository } from '../ports/snapshots.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import { gatedStages } from './gated-stages.js';
import type { VmLocks } from './vm-locks.js';

const GIB = 1024 ** 3;

export interface SnapshotVmDeps {
  vms: VmRepository;
  snapshots: SnapshotRepository;
  snapshotHost: SnapshotHost;
  locks: VmLocks;
  /** Consulted after the save stage (the fault matrix holds a snapshot there); production: none. */
  gate?: StageGate;
}

/**
 * SnapshotVm: a named snapshot of a running (or paused) VM, which keeps running. The row is
 * recorded first as `creating` so a crash leaves a row that names privhelper's files (prune
 * removes both); privhelper pauses the VM, saves its state and RAM, freezes its disks and
 * continues it. A failure removes the row and whatever privhelper has under the id.
 */
export class SnapshotVm {
  constructor(private readonly deps: SnapshotVmDeps) {}

  async run(cmd: { ref: string; name: string; kind?: SnapshotKind }, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { vms, snapshots, snapshotHost, locks } = this.deps;
    const stages = gatedStages(op, 'vm_snapshot', this.deps.gate);
    let row: Snapshot | undefined;
    try {
      const name = validateVmName(cmd.name, 'name');
      const found = await findVm(vms, cmd.ref);
      return await locks.with(found.id, 'snapshot', async () => {
        const vm = await vms.getById(found.id);
        if (vm.state !== 'running' && vm.state !== 'paused') {
          throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vm.name} is ${vm.state}: only a running or paused VM can be snapshotted`, { fields: { vm: vm.name, state: vm.state } });
        }
        await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_snapshot', target: vm.name, targetId: vm.id });
        row = await snapshots.insert({
          id: randomBytes(8).toString('hex'),
          name,
          state: 'creating',
          sourceVmId: vm.id,
          sourceVmName: vm.name,
          imageId: vm.spec.image.id,
          imageName: vm.spec.image.name,
          imageFingerprint: vm.spec.image.fingerprint,
          kind: cmd.kind ?? 'named',
          kernelId: vm.spec.kernel.name === '' ? null : `${vm.spec.kernel.name}/${vm.spec.kernel.version}`,
          vcpus: vm.vcpus,
          memoryMib: vm.memoryMib,
          workDiskGib: Math.ceil(vm.spec.workDiskBytes / GIB),
          opId: op.opId,
        });
        const id = row.id;
        const files = await stages.run('save', `pause, state and ${vm.memoryMib} MiB of RAM, freeze the disks, continue`, () => snapshotHost.snapshot(vm.id, id));
        const done = await snapshots.markReady(id, files);
        await op.emit({ type: 'result', result: { snapshot: snapshotToJson(done), pause_ms: files.pauseMs, state_bytes: files.stateBytes, size_bytes: files.sizeBytes } });
        return { targetId: vm.id, vmId: vm.id };
      });
    } catch (err) {
      if (row !== undefined) {
        const id = row.id;
        await snapshotHost.deleteSnapshot(id).catch(() => undefined);
        await snapshots.delete(id).catch(() => undefined);
      }
      await op.emit(failureEvent(err, op.opId));
      throw err;
    }
  }
}
