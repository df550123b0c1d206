import type { ErrorCode } from '@banger/runtime/errors';
import type { OpEventBody } from '@banger/runtime/ops';
import type { JsonObject } from '@banger/store';
import { INTERRUPTED, type Operation } from '@banger/store/operations';

/** What a failed or cancelled operation ended with, as its last event says. */
export type FailureBody = Extract<OpEventBody, { type: 'failure' }>;

/**
 * Summary kept in an operation row's `result` column when it finishes, so that Get/List can
 * show the failing stage, error code and target id without reading the event stream.
 */
export interface OperationOutcome {
  code?: ErrorCode;
  stage?: string;
  targetId?: string;
  /** What the work returned on success. */
  value?: JsonObject;
}

/** A daemon dying mid-operation is a concurrency-style abort: retrying the whole operation is the fix. */
export const INTERRUPTED_CODE: ErrorCode = 'ABORTED';

/** An operation as the query RPCs show it: the row plus what only the live runner or the outcome knows. */
export interface OperationView {
  operation: Operation;
  stage: string;
  targetId: string;
  /** Set for failed and cancelled operations. */
  errorCode: ErrorCode | undefined;
}

export function outcomeOf(op: Operation): OperationOutcome {
  const r = op.result ?? {};
  const out: OperationOutcome = {};
  if (typeof r['code'] === 'string') out.code = r['code'] as ErrorCode;
  if (typeof r['stage'] === 'string') out.stage = r['stage'];
  if (typeof r['targetId'] === 'string') out.targetId = r['targetId'];
  if (typeof r['value'] === 'object' && r['value'] !== null) out.value = r['value'] as JsonObject;
  return out;
}

export function viewOf(op: Operation, live?: { stage: string | undefined; targetId: string | undefined }): OperationView {
  const outcome = outcomeOf(op);
  let errorCode: ErrorCode | undefined;
  if (op.state === 'failed' || op.state === 'cancelled') {
    errorCode = outcome.code ?? (op.error?.reason === INTERRUPTED ? INTERRUPTED_CODE : op.state === 'cancelled' ? 'CANCELLED' : 'UNKNOWN');
  }
  return {
    operation: op,
    stage: live?.stage ?? outcome.stage ?? '',
    targetId: live?.targetId ?? outcome.targetId ?? '',
    errorCode,
  };
}

/** The stage an event stream was in when it stopped: the last one started and not finished. */
export function openStage(events: readonly { event: JsonObject }[]): string {
  let stage = '';
  for (const { event } of events) {
    if (event['type'] === 'stage_started' && typeof event['stage'] === 'string') stage = event['stage'];
    else if (event['type'] === 'stage_finished' && event['stage'] === stage) stage = '';
  }
  return stage;
}
