import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { helperv2 } from '@banger/api';
import { implementService, PermissionDeniedError, serverInfo, unary } from '@banger/runtime';
import type { HostFacts } from '../../app/host-facts.js';
import type { VmDiskStore } from '../store/vm-disks.js';
import { diskHandlers } from './disk-handlers.js';
import { heldHandlers, type HeldHandlerDeps } from './held-handlers.js';
import { hostCapabilitiesToProto } from './host-convert.js';
import { hypervisorHandlers, type HypervisorDeps } from './hypervisor-handlers.js';
import { imageHandlers, type ImageHandlerDeps } from './image-handlers.js';
import { kernelHandlers, type KernelHandlerDeps } from './kernel-handlers.js';
import { savedStateHandlers, type SavedStateHandlerDeps } from './saved-state-handlers.js';
import { snapshotHandlers, type SnapshotHandlerDeps } from './snapshot-handlers.js';

export interface HelperServiceDeps {
  hostFacts: HostFacts;
  disks: VmDiskStore;
  hypervisor: HypervisorDeps;
  images: ImageHandlerDeps;
  kernels: KernelHandlerDeps;
  network: Record<string, unknown>;
  held: HeldHandlerDeps;
  savedStates: SavedStateHandlerDeps;
  snapshots: SnapshotHandlerDeps;
}

/** The service definition privhelper serves. */
export const helperServiceDefinition = helperv2.HelperServiceService;

/** gRPC surface of privhelper: converts proto to use-case calls and back, nothing more. */
export function helperServiceImplementation(deps: HelperServiceDeps): UntypedServiceImplementation {
  return implementService(helperv2.HelperServiceService, 'HelperService', {
    getServerInfo: unary(async (): Promise<helperv2.GetServerInfoResponse> => ({ info: serverInfo('privhelper') })),
    probeHost: unary(async (req: helperv2.ProbeHostRequest, ctx): Promise<helperv2.ProbeHostResponse> => {
      if (req.deep) {
        if (ctx.peer === undefined) throw new PermissionDeniedError('CALLER_UNKNOWN', 'the caller could not be identified');
        deps.hostFacts.admitDeep(ctx.peer.uid);
      }
      return { capabilities: hostCapabilitiesToProto(await deps.hostFacts.describe(req.deep)) };
    }),
    ...diskHandlers(deps.disks),
    ...hypervisorHandlers(deps.hypervisor),
    ...imageHandlers(deps.images),
    ...kernelHandlers(deps.kernels),
    ...deps.network,
    ...heldHandlers(deps.held),
    ...savedStateHandlers(deps.savedStates),
    ...snapshotHandlers(deps.snapshots),
  });
}
