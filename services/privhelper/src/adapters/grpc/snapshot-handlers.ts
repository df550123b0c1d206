import type { helperv2 } from '@banger/api';
import { unary } from '@banger/runtime';
import type { SnapshotVm } from '../../app/snapshot-vm.js';
import { validateSnapshotId, type SnapshotView } from '../../domain/hypervisor/snapshot.js';
import type { SnapshotStore } from '../store/snapshot-store.js';

export interface SnapshotHandlerDeps {
  snapshot: SnapshotVm;
  snapshots: SnapshotStore;
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
    deleteSnapshot: unary(async (req: helperv2.DeleteSnapshotRequest): Promise<helperv2.DeleteSnapshotResponse> => ({ deleted: await deps.snapshots.remove(validateSnapshotId(req.snapshotId)) })),
  };
}
