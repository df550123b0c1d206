import type { JsonObject } from '../json.js';

export type OperationState = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type FinalOperationState = Exclude<OperationState, 'running'>;

export const OPERATION_STATES: readonly OperationState[] = ['running', 'succeeded', 'failed', 'cancelled'];

/** Why an operation failed, in the same shape as banger's errors (reason + fields). */
export interface OperationError {
  reason: string;
  message: string;
  fields?: Record<string, string>;
}

/**
 * Something an operation created on the host (tap, overlay, process, row...), recorded as soon
 * as it exists so that an interrupted operation can be cleaned up after a restart.
 */
export interface OperationResource {
  kind: string;
  ref: string;
  detail?: JsonObject;
}

export interface Operation {
  opId: string;
  kind: string;
  target: string;
  state: OperationState;
  error: OperationError | null;
  result: JsonObject | null;
  resources: OperationResource[];
  lastSeq: number;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface OperationEvent {
  opId: string;
  /** 1, 2, 3... per operation, assigned by the store. */
  seq: number;
  at: Date;
  event: JsonObject;
}

/** What `watch` yields: events in seq order, then exactly one `finished` when the op ends. */
export type WatchItem =
  | { type: 'event'; event: OperationEvent }
  | { type: 'finished'; operation: Operation };

export interface ListOperationsFilter {
  state?: OperationState | readonly OperationState[];
  kind?: string | readonly string[];
  target?: string;
  /** Default 100, at most 1000; newest first. */
  limit?: number;
}

export const INTERRUPTED = 'INTERRUPTED';
