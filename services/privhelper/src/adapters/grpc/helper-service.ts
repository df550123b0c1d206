import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { helperv1 } from '@banger/api';
import { implementService, serverInfo, unary } from '@banger/runtime';
import type { HostFacts } from '../../app/host-facts.js';
import { hostCapabilitiesToProto } from './host-convert.js';

export interface HelperServiceDeps {
  hostFacts: HostFacts;
}

/** gRPC surface of privhelper: converts proto to use-case calls and back, nothing more. */
export function helperServiceImplementation(deps: HelperServiceDeps): UntypedServiceImplementation {
  return implementService(helperv1.HelperServiceService, 'HelperService', {
    getServerInfo: unary(async (): Promise<helperv1.GetServerInfoResponse> => ({ info: serverInfo('privhelper') })),
    probeHost: unary(async (req: helperv1.ProbeHostRequest): Promise<helperv1.ProbeHostResponse> => ({
      capabilities: hostCapabilitiesToProto(await deps.hostFacts.describe(req.deep)),
    })),
  });
}
