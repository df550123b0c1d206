import type { helperv2 } from '@banger/api';
import { unary } from '@banger/runtime';
import { NotFoundError } from '@banger/runtime/errors';
import type { RestoreSnapshot } from '../../app/restore-snapshot.js';
import type { SnapshotVm } from '../../app/snapshot-vm.js';
import type { Hypervisor } from '../../domain/hypervisor/driver.js';
import { validateVmId } from '../../domain/vmspec/spec.js';
import type { VmDiskStore } from '../store/vm-disks.js';
import type { GuestRam } from '../../ports/stores.js';
import { launchRequestFromProto, toProcess } from './hypervisor-handlers.js';
import { validateSnapshotId, type SnapshotView } from '../../domain/hypervisor/snapshot.js';
import { sparseCopy, type SnapshotStore } from '../store/snapshot-store.js';

export interface SnapshotHandlerDeps {
  snapshot: SnapshotVm;
  snapshots: SnapshotStore;
  restore: RestoreSnapshot;
  disks: VmDiskStore;
  hypervisor: () => Promise<Hypervisor>;
  runVmsDir: string;
  ram: GuestRam;
}

const duration = (ms: number): { seconds: number; nanos: number } => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

export function snapshotToProto(v: SnapshotView): helperv2.Snapshot {
  const c = v.compat;
  return {
    snapshotId: v.snapshotId,
    sourceVmId: v.sourceVmId,
    sizeBytes: v.sizeBytes,
    stateBytes: v.stateBytes,
    stateSha256: v.stateSha256,
    savedAt: new Date(v.savedAt),
    pauseDuration: duration(v.pauseMs),
    qemuVersion: c.qemuVersion,
    accel: c.accel,
    cpuModel: c.cpuModel,
    machine: c.machine,
    memoryMib: c.memoryMib,
    vcpus: c.vcpus,
    kernel: c.kernel,
    baseImage: c.baseImage,
    workDisk: c.workDisk,
    mac: c.mac,
    sharedRam: v.ram !== undefined,
    ramBytes: v.ram?.bytes ?? 0,
  };
}

/** Named snapshots: proto → use case or store → proto. */
export function snapshotHandlers(deps: SnapshotHandlerDeps): Record<string, unknown> {
  return {
    snapshotHypervisor: unary(async (req: helperv2.SnapshotHypervisorRequest): Promise<helperv2.SnapshotHypervisorResponse> => ({
      snapshot: snapshotToProto(await deps.snapshot.run(req.vmId, req.snapshotId)),
    })),
    describeSnapshot: unary(async (req: helperv2.DescribeSnapshotRequest): Promise<helperv2.DescribeSnapshotResponse> => {
      const v = await deps.snapshots.describe(validateSnapshotId(req.snapshotId));
      return { snapshot: v === undefined ? undefined : snapshotToProto(v) };
    }),
    listSnapshotFiles: unary(async (): Promise<helperv2.ListSnapshotFilesResponse> => ({ snapshots: (await deps.snapshots.list()).map(snapshotToProto) })),
    createDisksFromSnapshot: unary(async (req: helperv2.CreateDisksFromSnapshotRequest): Promise<helperv2.CreateDisksFromSnapshotResponse> => {
      const vmId = validateVmId(req.vmId);
      const meta = await deps.snapshots.describe(validateSnapshotId(req.snapshotId));
      if (meta === undefined) throw new NotFoundError('snapshot', req.snapshotId, 'SNAPSHOT_NOT_FOUND', { fields: { snapshot_id: req.snapshotId } });
      const made = await deps.disks.createFromFrozen(vmId, { image: meta.compat.baseImage, ...deps.snapshots.frozenDisks(meta) }, sparseCopy);
      return { rootPath: made.root, workPath: made.work ?? '' };
    }),
    restoreSnapshot: unary(async (req: helperv2.RestoreSnapshotRequest): Promise<helperv2.RestoreSnapshotResponse> => {
      const handle = await deps.restore.run(launchRequestFromProto(req.spec), req.snapshotId);
      return { process: await toProcess(await deps.hypervisor(), handle, deps.runVmsDir) };
    }),
    deleteSnapshot: unary(async (req: helperv2.DeleteSnapshotRequest): Promise<helperv2.DeleteSnapshotResponse> => {
      const id = validateSnapshotId(req.snapshotId);
      deps.ram.drop(id);
      return { deleted: await deps.snapshots.remove(id) };
    }),
  };
}
