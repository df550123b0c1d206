import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@banger/runtime/errors';
import type { GuestRam } from '../ports/stores.js';
import type { FileHandle } from 'node:fs/promises';
import type { Hypervisor, VmHandle } from '../domain/hypervisor/driver.js';
import { compatMismatch, compatOf } from '../domain/hypervisor/saved-state.js';
import { validateSnapshotId, type SnapshotMeta, type SnapshotView } from '../domain/hypervisor/snapshot.js';
import { validateLaunchSpec, type LaunchLimits, type LaunchRequest } from '../domain/vmspec/spec.js';
import type { LaunchVm } from './launch-vm.js';

export interface RestoreSnapshotDeps {
  hypervisor: () => Promise<Hypervisor>;
  launch: LaunchVm;
  snapshots: { describe(id: string): Promise<SnapshotView | undefined>; openState(meta: SnapshotMeta): Promise<FileHandle>; ramFile(meta: SnapshotMeta): string };
  ram: Pick<GuestRam, 'template'>;
  host: () => Promise<{ accel: string; qemuVersion: string }>;
  /** The image a VM's root overlay is over, from privhelper's own disk record. */
  baseImageOf: (vmId: string) => Promise<string | undefined>;
  limits: LaunchLimits;
  runVmsDir: string;
}

const LOAD_TIMEOUT_MS = 120_000;

/**
 * RestoreSnapshot: starts a clone (a VM with its own id, tap and MAC, whose disks are copies of
 * the snapshot's) from the snapshot's state. What the snapshot was saved on is checked first
 * (this QEMU, accelerator and CPU model, and the clone's memory, vCPUs, kernel, work disk and
 * base image; the MAC is the clone's own), then the file against its record; QEMU starts
 * paused (`-incoming defer`), loads the state through a descriptor and runs. A failed load
 * kills the new QEMU and removes its run dir; the snapshot is never changed.
 */
export class RestoreSnapshot {
  constructor(private readonly deps: RestoreSnapshotDeps) {}

  async run(req: LaunchRequest, snapshotId: string): Promise<VmHandle> {
    const { deps } = this;
    const spec = validateLaunchSpec(req, deps.runVmsDir, deps.limits);
    validateSnapshotId(snapshotId);
    const hv = await deps.hypervisor();
    if ((await hv.find(spec.vmId)) !== undefined) throw new FailedPreconditionError('VM_RUNNING', `vm ${spec.vmId} is running; nothing to restore`, { fields: { vm_id: spec.vmId } });
    const meta = await deps.snapshots.describe(snapshotId);
    if (meta === undefined) throw new NotFoundError('snapshot', snapshotId, 'SNAPSHOT_NOT_FOUND', { fields: { snapshot_id: snapshotId } });
    const here = { ...compatOf(spec, (await deps.baseImageOf(spec.vmId)) ?? '', await deps.host()), mac: meta.compat.mac };
    const mismatch = compatMismatch(meta.compat, here);
    if (mismatch !== undefined) {
      throw new FailedPreconditionError('STATE_INCOMPATIBLE', `snapshot ${snapshotId} cannot be restored as vm ${spec.vmId}: ${mismatch.what} was ${mismatch.saved}, is ${mismatch.now}`, {
        fields: { snapshot_id: snapshotId, vm_id: spec.vmId, field: mismatch.what },
      });
    }
    if (meta.ram !== undefined && spec.sharedRam === true) {
      throw new InvalidArgumentError('spec.shared_ram', `snapshot ${snapshotId} has shared RAM: its clones map it copy-on-write, they cannot run on RAM of their own`, 'SHARED_RAM_CONFLICT');
    }
    const fh = await deps.snapshots.openState(meta);
    try {
      const templateRamFd = meta.ram !== undefined ? await deps.ram.template(snapshotId, deps.snapshots.ramFile(meta), meta.ram) : undefined;
      const handle = await deps.launch.run(req, { incoming: true, ...(templateRamFd !== undefined ? { templateRamFd } : {}) });
      try {
        await hv.loadState(spec.vmId, fh.fd, LOAD_TIMEOUT_MS, { ignoreShared: meta.ram !== undefined });
      } catch (err) {
        await hv.kill(spec.vmId).catch(() => undefined);
        await hv.remove(spec.vmId).catch(() => undefined);
        throw new FailedPreconditionError('STATE_RESTORE_FAILED', `snapshot ${snapshotId}: restoring it as vm ${spec.vmId} failed: ${(err as Error).message}`, {
          fields: { snapshot_id: snapshotId, vm_id: spec.vmId },
          cause: err,
        });
      }
      return handle;
    } finally {
      await fh.close();
    }
  }
}
