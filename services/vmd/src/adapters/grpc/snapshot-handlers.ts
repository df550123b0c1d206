import type { vmv1 } from '@banger/api';
import { streamOperation } from '@banger/operations';
import { durationToMs, msToDuration, serverStream, unary } from '@banger/runtime';
import type { Snapshot } from '../../domain/snapshot.js';
import type { HandlerDeps } from './use-cases.js';

type SnapshotRpcs = 'snapshotVm' | 'listSnapshots' | 'getSnapshot' | 'deleteSnapshot' | 'pruneSnapshots' | 'createVmFromSnapshot';

export function snapshotToProto(s: Snapshot, clones: readonly string[] = []): vmv1.Snapshot {
  const f = s.files;
  return {
    id: s.id,
    name: s.name,
    state: s.state,
    sourceVmId: s.sourceVmId,
    sourceVmName: s.sourceVmName,
    imageId: s.imageId,
    kernelId: s.kernelId ?? '',
    vcpus: s.vcpus,
    memoryMib: s.memoryMib,
    workDiskGib: s.workDiskGib,
    sizeBytes: f?.sizeBytes ?? 0,
    stateBytes: f?.stateBytes ?? 0,
    stateSha256: f?.stateSha256 ?? '',
    pauseDuration: msToDuration(f?.pauseMs ?? 0),
    createdAt: s.createdAt,
    clones: [...clones],
    qemuVersion: f?.qemuVersion ?? '',
    accel: f?.accel ?? '',
    kind: s.kind,
  };
}

/** Named snapshots: proto → command → use case → proto. */
export function snapshotHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, SnapshotRpcs> {
  const { useCases: uc, events } = deps;
  return {
    snapshotVm: serverStream<vmv1.SnapshotVmRequest, vmv1.SnapshotVmResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_snapshot', target: req.ref, cancelOnDetach: false }, (op) => uc.snapshotVm.run({ ref: req.ref, name: req.name }, op), (e) => send({ event: events.stored(e) }));
    }),
    createVmFromSnapshot: serverStream<vmv1.CreateVmFromSnapshotRequest, vmv1.CreateVmFromSnapshotResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_create', target: req.name, cancelOnDetach: false }, (op) => uc.createVmFromSnapshot.run({ snapshot: req.snapshot, name: req.name, noWait: req.noWait }, op), (e) =>
        send({ event: events.stored(e) }),
      );
    }),
    listSnapshots: unary<vmv1.ListSnapshotsRequest, vmv1.ListSnapshotsResponse>(async (req) => ({
      snapshots: (await uc.listSnapshots.run({ source: req.source })).map((s) => snapshotToProto(s.snapshot, s.clones)),
    })),
    getSnapshot: unary<vmv1.GetSnapshotRequest, vmv1.GetSnapshotResponse>(async (req) => {
      const s = await uc.getSnapshot.run({ ref: req.ref });
      return { snapshot: snapshotToProto(s.snapshot, s.clones) };
    }),
    deleteSnapshot: unary<vmv1.DeleteSnapshotRequest, vmv1.DeleteSnapshotResponse>(async (req) => ({ snapshot: snapshotToProto(await uc.deleteSnapshot.run({ ref: req.ref })) })),
    pruneSnapshots: unary<vmv1.PruneSnapshotsRequest, vmv1.PruneSnapshotsResponse>(async (req) => ({
      deleted: (await uc.pruneSnapshots.run({ olderThanMs: durationToMs(req.olderThan, 'older_than') ?? 0, dryRun: req.dryRun })).map((s) => snapshotToProto(s)),
    })),
  };
}
