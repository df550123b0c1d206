import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { type commonv1, imagev1 } from '@banger/api';
import { implementService, serverInfo, unary } from '@banger/runtime';
import { storedImageEventToProto } from './events.js';
import { imageHandlers, type ImageRpcDeps } from './image-handlers.js';
import { kernelHandlers, type KernelRpcDeps } from './kernel-handlers.js';
import { operationHandlers } from '@banger/operations';

export type ImageServiceDeps = ImageRpcDeps &
  KernelRpcDeps & {
    /** Probes imaged's database for GetServerInfo (doctor's database check). */
    database?: () => Promise<commonv1.DatabaseStatus>;
  };

/**
 * gRPC surface of imaged: proto → domain command → use case → proto. Streaming operations
 * (BuildImage, PullKernel) run through the OperationRunner and forward with `followOperation`,
 * like vmd's CreateVm.
 */
export function imageServiceImplementation(deps: ImageServiceDeps): UntypedServiceImplementation {
  return implementService(imagev1.ImageServiceService, 'ImageService', {
    getServerInfo: unary(async (): Promise<imagev1.GetServerInfoResponse> => ({
      info: { ...serverInfo('imaged'), ...(deps.database ? { database: await deps.database() } : {}) },
    })),
    ...imageHandlers(deps),
    ...kernelHandlers(deps),
    ...operationHandlers({ log: deps.operations, runner: deps.runner, eventToProto: storedImageEventToProto }),
  });
}
