import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { vmv1 } from '@banger/api';
import { implementService, serverInfo, serverStream, unary } from '@banger/runtime';
import type { VmCreate } from '../../app/vm-create.js';
import type { OperationRunner } from '@banger/operations';
import type { VmQueries } from '../../app/vm-queries.js';
import { validateCreate, type VmBounds } from '../../domain/create-request.js';
import type { OperationLog } from '@banger/operations';
import { storedVmEventToProto } from './events.js';
import { lifecycleHandlers, type LifecycleHandlerDeps } from './lifecycle-handlers.js';
import { operationHandlers } from '@banger/operations';
import { streamOperation } from '@banger/operations';
import { vmStateFromProto, vmToProto } from './vm-convert.js';

export interface VmServiceDeps extends Omit<LifecycleHandlerDeps, 'runner' | 'operations'> {
  vmCreate: VmCreate;
  runner: OperationRunner;
  operations: OperationLog;
  vms: VmQueries;
  bounds: VmBounds;
  defaultImage: string;
}

/** gRPC surface of vmd: proto → domain command → use case → proto. */
export function vmServiceImplementation(deps: VmServiceDeps): UntypedServiceImplementation {
  return implementService(vmv1.VmServiceService, 'VmService', {
    getServerInfo: unary(async (): Promise<vmv1.GetServerInfoResponse> => ({ info: serverInfo('vmd') })),
    createVm: serverStream<vmv1.CreateVmRequest, vmv1.CreateVmResponse>(async (req, ctx, send) => {
      const cmd = validateCreate(
        { name: req.name, image: req.image, memoryMib: req.memoryMib, vcpus: req.vcpus, workDiskBytes: req.workDiskSizeBytes, noWait: req.noWait },
        deps.bounds,
        deps.defaultImage,
      );
      await streamOperation(deps, ctx, { kind: 'vm_create', target: cmd.name, cancelOnDetach: req.cancelOnDetach }, (op) => deps.vmCreate.run(cmd, op), (event) =>
        send({ event: storedVmEventToProto(event) }),
      );
    }),
    ...lifecycleHandlers(deps),
    ...operationHandlers({ log: deps.operations, runner: deps.runner, eventToProto: storedVmEventToProto }),
    listVms: unary<vmv1.ListVmsRequest, vmv1.ListVmsResponse>(async (req) => {
      const states = req.states.map(vmStateFromProto).filter((s) => s !== undefined);
      const vms = await deps.vms.list({ ...(states.length > 0 ? { state: states } : {}), ...(req.image ? { imageId: req.image } : {}) });
      return { vms: vms.map((vm) => vmToProto(vm)) };
    }),
    getVm: unary<vmv1.GetVmRequest, vmv1.GetVmResponse>(async (req) => ({
      vm: vmToProto(await deps.vms.get(req.ref), { includeSecrets: req.includeSecrets }),
    })),
    touchVm: unary<vmv1.TouchVmRequest, vmv1.TouchVmResponse>(async (req) => ({ vm: vmToProto(await deps.vms.touch(req.ref)) })),
  });
}
