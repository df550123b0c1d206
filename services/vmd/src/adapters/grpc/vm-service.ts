import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { vmv1 } from '@banger/api';
import { implementService, serverInfo, serverStream, unary, type OpEventBody } from '@banger/runtime';
import type { CreateVm } from '../../app/create-vm.js';
import { validateCreate, type VmBounds } from '../../domain/create-request.js';
import { vmEventToProto } from './events.js';

export interface VmServiceDeps {
  createVm: CreateVm;
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
      let seq = 0;
      await deps.createVm.execute(cmd, ctx.opId, async (body: OpEventBody) => {
        seq += 1;
        await send({ event: vmEventToProto(ctx.opId, seq, body) });
      });
    }),
  });
}
