import type { commonv1 } from '@banger/api';
import { serverStream, unary, validateOpId } from '@banger/runtime';
import type { OperationEvent } from '@banger/store';
import { followOperation } from '../app/follow.js';
import type { OperationRunner } from '../app/runner.js';
import type { OperationLog } from '../ports.js';
import { listFilterFromProto, operationToProto, type ListOperationsRequestLike } from './operation-convert.js';

export interface OperationRpcDeps<Ev> {
  log: OperationLog;
  runner: OperationRunner;
  /** The service's own OperationEvent from a stored event. */
  eventToProto: (event: OperationEvent) => Ev;
}

/**
 * WatchOperation, GetOperation, ListOperations and CancelOperation over the durable log. Op ids
 * and targets are checked before they reach a query.
 * The request/response shapes are the same in every service package; only the event differs.
 */
export function operationHandlers<Ev>(deps: OperationRpcDeps<Ev>) {
  const toProto = (op: Parameters<OperationRunner['describe']>[0]): commonv1.Operation => operationToProto(deps.runner.describe(op));
  return {
    watchOperation: serverStream<{ opId: string; afterSeq: number }, { event?: Ev | undefined }>(async (req, ctx, send) => {
      await followOperation(deps.log, validateOpId(req.opId), (event) => send({ event: deps.eventToProto(event) }), { afterSeq: req.afterSeq, signal: ctx.signal });
    }),
    getOperation: unary<{ opId: string }, { operation?: commonv1.Operation | undefined }>(async (req) => ({
      operation: toProto(await deps.log.get(validateOpId(req.opId))),
    })),
    listOperations: unary<ListOperationsRequestLike, { operations: commonv1.Operation[] }>(async (req) => ({
      operations: (await deps.log.list(listFilterFromProto(req))).map(toProto),
    })),
    cancelOperation: unary<{ opId: string }, { operation?: commonv1.Operation | undefined }>(async (req) => ({
      operation: toProto(await deps.runner.cancel(validateOpId(req.opId))),
    })),
  };
}
