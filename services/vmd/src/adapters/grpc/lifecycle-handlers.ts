import { type vmv1 } from '@banger/api';
import { streamOperation } from '@banger/operations';
import { durationToMs, serverStream, unary } from '@banger/runtime';
import { InvalidArgumentError } from '@banger/runtime/errors';
import { validateCreate } from '../../domain/create-request.js';
import { validateEgress } from '../../domain/egress.js';
import { egressFromProto, hypervisorFromProto } from './vm-convert.js';
import type { HandlerDeps } from './use-cases.js';

/** The configured default grace period of a stop, when the request leaves it unset. */
const DEFAULT_STOP_MS = 30_000;

type LifecycleRpcs = 'createVm' | 'startVm' | 'stopVm' | 'restartVm' | 'killVm' | 'deleteVm' | 'pruneVms' | 'resizeWorkDisk' | 'setVmEgress' | 'promoteVm' | 'collectGarbage';

/** The lifecycle RPCs: proto → command → use case → proto, nothing else. */
export function lifecycleHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, LifecycleRpcs> {
  const { useCases: uc, view, events } = deps;
  return {
    createVm: serverStream<vmv1.CreateVmRequest, vmv1.CreateVmResponse>(async (req, ctx, send) => {
      const cmd = validateCreate(
        {
          name: req.name,
          image: req.image,
          kernel: req.kernel,
          memoryMib: req.memoryMib,
          vcpus: req.vcpus,
          workDiskBytes: req.workDiskSizeBytes,
          noWait: req.noWait,
          sshAuthorizedKeys: req.sshAuthorizedKeys,
          hypervisor: hypervisorFromProto(req.hypervisor),
          egress: req.egress === undefined ? undefined : egressFromProto(req.egress),
          autoForward: req.autoForward,
          syncFiles: req.syncFiles.map((f) => ({ guestPath: f.guestPath, mode: f.mode, data: Buffer.from(f.data) })),
          cold: req.cold,
        },
        deps.bounds,
        deps.defaultImage,
      );
      await streamOperation(deps, ctx, { kind: 'vm_create', target: cmd.name, cancelOnDetach: req.cancelOnDetach }, (op) => uc.createVm.run(cmd, op), (e) => send({ event: events.stored(e) }));
    }),
    startVm: serverStream<vmv1.StartVmRequest, vmv1.StartVmResponse>(async (req, ctx, send) => {
      await streamOperation(deps, ctx, { kind: 'vm_start', target: req.ref, cancelOnDetach: false }, (op) => uc.startVm.run({ ref: req.ref, noWait: req.noWait }, op), (e) =>
        send({ event: events.stored(e) }),
      );
    }),
    restartVm: serverStream<vmv1.RestartVmRequest, vmv1.RestartVmResponse>(async (req, ctx, send) => {
      const stopTimeoutMs = durationToMs(req.stopTimeout, 'stop_timeout') ?? DEFAULT_STOP_MS;
      await streamOperation(deps, ctx, { kind: 'vm_restart', target: req.ref, cancelOnDetach: false }, (op) => uc.restartVm.run({ ref: req.ref, stopTimeoutMs, noWait: req.noWait }, op), (e) =>
        send({ event: events.stored(e) }),
      );
    }),
    stopVm: unary<vmv1.StopVmRequest, vmv1.StopVmResponse>(async (req) => {
      const { vm, forced } = await uc.stopVm.run({ ref: req.ref, timeoutMs: durationToMs(req.timeout, 'timeout') ?? DEFAULT_STOP_MS });
      return { vm: view.toProto(vm), forced };
    }),
    killVm: unary<vmv1.KillVmRequest, vmv1.KillVmResponse>(async (req) => ({ vm: view.toProto(await uc.killVm.run({ ref: req.ref })) })),
    deleteVm: unary<vmv1.DeleteVmRequest, vmv1.DeleteVmResponse>(async (req) => ({
      vm: view.toProto(await uc.deleteVm.run({ ref: req.ref, stopTimeoutMs: req.force ? 0 : DEFAULT_STOP_MS })),
    })),
    pruneVms: unary<vmv1.PruneVmsRequest, vmv1.PruneVmsResponse>(async (req) => ({
      deleted: (await uc.pruneVms.run({ olderThanMs: durationToMs(req.olderThan, 'older_than') ?? 0, dryRun: req.dryRun })).map((vm) => view.toProto(vm)),
    })),
    resizeWorkDisk: unary<vmv1.ResizeWorkDiskRequest, vmv1.ResizeWorkDiskResponse>(async (req) => ({
      vm: view.toProto(await uc.resizeWorkDisk.run({ ref: req.ref, sizeBytes: req.sizeBytes })),
    })),
    setVmEgress: unary<vmv1.SetVmEgressRequest, vmv1.SetVmEgressResponse>(async (req) => {
      if (req.egress === undefined) throw new InvalidArgumentError('egress', 'is required', 'MISSING_FIELD');
      const { vm, applied } = await uc.setVmEgress.run({ ref: req.ref, egress: validateEgress(egressFromProto(req.egress)) });
      return { vm: view.toProto(vm), applied };
    }),
    promoteVm: unary<vmv1.PromoteVmRequest, vmv1.PromoteVmResponse>(async (req) => ({ image: await uc.promoteVm.run({ ref: req.ref, imageName: req.imageName }) })),
    // The report's shape is the wire's (GcLeftover, GcOrphan): nothing to convert.
    collectGarbage: unary<vmv1.CollectGarbageRequest, vmv1.CollectGarbageResponse>(async (req) => uc.collectGarbage.run({ dryRun: req.dryRun })),
  };
}
