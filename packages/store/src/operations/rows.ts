import { asObject } from '../json.js';
import type { Operation, OperationError, OperationEvent, OperationResource, OperationState } from './types.js';

export interface OperationRow {
  op_id: string;
  kind: string;
  target: string;
  state: OperationState;
  error_reason: string | null;
  error_message: string | null;
  error_fields: Record<string, string> | null;
  result: Record<string, unknown> | null;
  resources: OperationResource[] | null;
  last_seq: number;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
  [k: string]: unknown;
}

export interface EventRow {
  op_id: string;
  seq: number;
  at: Date;
  event: unknown;
  [k: string]: unknown;
}

export function toOperation(r: OperationRow): Operation {
  let error: OperationError | null = null;
  if (r.error_reason !== null) {
    error = { reason: r.error_reason, message: r.error_message ?? '' };
    if (r.error_fields) error.fields = r.error_fields;
  }
  return {
    opId: r.op_id,
    kind: r.kind,
    target: r.target,
    state: r.state,
    error,
    result: r.result === null ? null : asObject(r.result),
    resources: Array.isArray(r.resources) ? r.resources : [],
    lastSeq: r.last_seq,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export function toEvent(r: EventRow): OperationEvent {
  return { opId: r.op_id, seq: r.seq, at: r.at, event: asObject(r.event) };
}
