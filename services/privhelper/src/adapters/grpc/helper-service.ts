import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { helperv1 } from '@banger/api';
import { implementService, serverInfo, unary } from '@banger/runtime';
import type { HostFacts } from '../../app/host-facts.js';
import type { DiskManager } from '../../domain/disk/ports.js';
import { diskHandlers } from './disk-handlers.js';
import { hostCapabilitiesToProto } from './host-convert.js';
import { hypervisorHandlers, type HypervisorDeps } from './hypervisor-handlers.js';

export interface HelperServiceDeps {
  hostFacts: HostFacts;
  disks: DiskManager;
  vmDisksRoot: string;
  hypervisor: HypervisorDeps;
  network?: Record<string, unknown>;
  rootfs?: Record<string, unknown>;
}

/** The service definition privhelper serves. */
export const helperServiceDefinition = helperv1.HelperServiceService;

/** gRPC surface of privhelper: converts proto to use-case calls and back, nothing more. */
export function helperServiceImplementation(deps: HelperServiceDeps): UntypedServiceImplementation {
  return implementService(helperv1.HelperServiceService, 'HelperService', {
    getServerInfo: unary(async (): Promise<helperv1.GetServerInfoResponse> => ({ info: serverInfo('privhelper') })),
    probeHost: unary(async (req: helperv1.ProbeHostRequest): Promise<helperv1.ProbeHostResponse> => ({
      capabilities: hostCapabilitiesToProto(await deps.hostFacts.describe(req.deep)),
    })),
    ...diskHandlers(deps.disks, deps.vmDisksRoot),
    ...hypervisorHandlers(deps.hypervisor),
    ...(deps.network ?? {}),
    ...(deps.rootfs ?? {}),
  });
}
