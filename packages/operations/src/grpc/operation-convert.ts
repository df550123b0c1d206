import { commonv1 } from '@banger/api';
import { ERROR_DOMAIN, InvalidArgumentError, operationKindFromProto, operationKindToProto, TARGET_RULE, validateRef } from '@banger/runtime';
import type { ListOperationsFilter, OperationState } from '@banger/store';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { OperationView } from '../app/outcome.js';

const STATE_TO_PROTO: Record<OperationState, commonv1.OperationState> = {
  running: commonv1.OperationState.OPERATION_STATE_RUNNING,
  succeeded: commonv1.OperationState.OPERATION_STATE_SUCCEEDED,
  failed: commonv1.OperationState.OPERATION_STATE_FAILED,
  cancelled: commonv1.OperationState.OPERATION_STATE_CANCELLED,
};

export function operationStateFromProto(state: commonv1.OperationState): OperationState | undefined {
  return (Object.entries(STATE_TO_PROTO) as [OperationState, commonv1.OperationState][]).find(([, v]) => v === state)?.[0];
}

/** A stored operation (with what the runner knows) as the wire's common Operation. */
export function operationToProto(view: OperationView): commonv1.Operation {
  const op = view.operation;
  const failed = op.state === 'failed' || op.state === 'cancelled';
  return {
    opId: op.opId,
    kind: operationKindToProto(op.kind),
    target: op.target,
    targetId: view.targetId,
    state: STATE_TO_PROTO[op.state],
    stage: view.stage,
    error:
      failed && op.error
        ? {
            code: GrpcStatus[view.errorCode ?? 'UNKNOWN'] ?? GrpcStatus.UNKNOWN,
            reason: op.error.reason,
            domain: ERROR_DOMAIN,
            message: op.error.message,
            stage: view.stage,
            metadata: { ...op.error.fields },
          }
        : undefined,
    createdAt: op.createdAt,
    updatedAt: op.updatedAt,
    finishedAt: op.finishedAt ?? undefined,
    lastSeq: op.lastSeq,
    leftovers: failed ? op.resources.map((r) => ({ kind: r.kind, id: r.ref })) : [],
  };
}

export interface ListOperationsRequestLike {
  states: commonv1.OperationState[];
  kinds: commonv1.OperationKind[];
  limit: number;
  target: string;
}

/** ListOperations filters; an unspecified or unknown state/kind is the caller's mistake, not "any". */
export function listFilterFromProto(req: ListOperationsRequestLike): ListOperationsFilter {
  const filter: ListOperationsFilter = {};
  const states = req.states.map((s) => {
    const state = operationStateFromProto(s);
    if (!state) throw new InvalidArgumentError('states', `unknown operation state ${s}`, 'INVALID_OPERATION_STATE');
    return state;
  });
  const kinds = req.kinds.map((k) => {
    const kind = operationKindFromProto(k);
    if (!kind) throw new InvalidArgumentError('kinds', `unknown operation kind ${k}`, 'INVALID_OPERATION_KIND');
    return kind;
  });
  if (states.length > 0) filter.state = states;
  if (kinds.length > 0) filter.kind = kinds;
  if (req.target) filter.target = validateRef(req.target, 'target', TARGET_RULE);
  if (req.limit > 0) filter.limit = req.limit;
  return filter;
}
