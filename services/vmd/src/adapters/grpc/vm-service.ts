import { type vmv1 } from '@banger/api';
import { operationHandlers } from '@banger/operations';
import { serverInfo, unary } from '@banger/runtime';
import { filesHandlers } from './files-handlers.js';
import { forkHandlers } from './fork-handlers.js';
import { forwardHandlers } from './forward-handlers.js';
import { guestHandlers } from './guest-handlers.js';
import { lifecycleHandlers } from './lifecycle-handlers.js';
import { queryHandlers } from './query-handlers.js';
import { snapshotHandlers } from './snapshot-handlers.js';
import { suspendHandlers } from './suspend-handlers.js';
import type { HandlerDeps } from './use-cases.js';
import { warmHandlers } from './warm-handlers.js';

/**
 * gRPC surface of vmd, typed against the generated VmServiceServer: every RPC has exactly one
 * handler here (the operation RPCs come from @banger/operations, shared with imaged).
 */
export function vmServiceImplementation(deps: HandlerDeps): vmv1.VmServiceServer {
  return {
    getServerInfo: unary<vmv1.GetServerInfoRequest, vmv1.GetServerInfoResponse>(async () => ({
      info: { ...serverInfo('vmd'), ...(deps.database ? { database: await deps.database() } : {}) },
    })),
    ...lifecycleHandlers(deps),
    ...queryHandlers(deps),
    ...suspendHandlers(deps),
    ...guestHandlers(deps),
    ...forwardHandlers(deps),
    ...filesHandlers(deps),
    ...snapshotHandlers(deps),
    ...warmHandlers(deps),
    ...forkHandlers(deps),
    ...operationHandlers({ log: deps.operations, runner: deps.runner, eventToProto: deps.events.stored }),
  };
}
