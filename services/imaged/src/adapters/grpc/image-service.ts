import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { imagev1 } from '@banger/api';
import { implementService, serverInfo, unary } from '@banger/runtime';
import type { OperationRunner } from '../../app/operations/runner.js';
import type { OperationLog } from '../../ports/operations.js';
import { storedImageEventToProto } from './events.js';
import { operationHandlers } from './operations.js';

export interface ImageServiceDeps {
  runner: OperationRunner;
  operations: OperationLog;
}

/**
 * gRPC surface of imaged: proto → domain command → use case → proto. Streaming operations
 * (BuildImage, PullKernel) run through `deps.runner.start(...)` and forward with
 * `followOperation`, like vmd's CreateVm.
 */
export function imageServiceImplementation(deps: ImageServiceDeps): UntypedServiceImplementation {
  return implementService(imagev1.ImageServiceService, 'ImageService', {
    getServerInfo: unary(async (): Promise<imagev1.GetServerInfoResponse> => ({ info: serverInfo('imaged') })),
    ...operationHandlers({ log: deps.operations, runner: deps.runner, eventToProto: storedImageEventToProto }),
  });
}
