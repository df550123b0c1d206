import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { imagev1 } from '@banger/api';
import { implementService, serverInfo, unary } from '@banger/runtime';

/** gRPC surface of imaged: proto → domain command → use case → proto. */
export function imageServiceImplementation(): UntypedServiceImplementation {
  return implementService(imagev1.ImageServiceService, 'ImageService', {
    getServerInfo: unary(async (): Promise<imagev1.GetServerInfoResponse> => ({ info: serverInfo('imaged') })),
  });
}
