import { BangerError, CancelledError, ERROR_CODES, type ErrorCode } from '@banger/runtime/errors';
import type { Operation, OperationEvent } from '@banger/store/operations';
import type { OperationLog } from '../ports.js';
import { viewOf, type FailureBody } from './outcome.js';

export interface FollowOptions {
  afterSeq?: number;
  /** The watching client went away: stop following (the operation itself goes on). */
  signal?: AbortSignal;
  /** Ends the follow early with this promise's rejection (the runner could not finish the op). */
  abandon?: Promise<unknown>;
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/** The error a failed or cancelled operation's stream ends with: its failure event, else its row. */
export function operationError(op: Operation, failure: FailureBody | undefined): BangerError {
  if (failure && isErrorCode(failure.code)) {
    return new BangerError(failure.code, failure.reason, failure.message, { fields: { ...failure.metadata, op_id: op.opId } });
  }
  const view = viewOf(op);
  return new BangerError(view.errorCode ?? 'UNKNOWN', op.error?.reason ?? 'OPERATION_FAILED', op.error?.message ?? `operation ${op.state}`, {
    fields: { ...op.error?.fields, op_id: op.opId },
  });
}

/**
 * Replays an operation's stored events after `afterSeq`, follows live ones, and ends when the
 * operation does: normally when it succeeded, with its error when it failed or was cancelled.
 * Used by the RPC that started the operation and by WatchOperation alike.
 */
export async function followOperation(
  log: Pick<OperationLog, 'watch'>,
  opId: string,
  onEvent: (event: OperationEvent) => Promise<void>,
  options: FollowOptions = {},
): Promise<Operation> {
  const stop = new AbortController();
  const onClientGone = (): void => stop.abort(options.signal?.reason ?? new CancelledError('CLIENT_CANCELLED', 'the client cancelled the call'));
  if (options.signal?.aborted) onClientGone();
  options.signal?.addEventListener('abort', onClientGone, { once: true });
  options.abandon?.catch((err: unknown) => stop.abort(err));
  let failure: FailureBody | undefined;
  try {
    for await (const item of log.watch(opId, { afterSeq: options.afterSeq ?? 0, signal: stop.signal })) {
      if (item.type === 'event') {
        if (item.event.event['type'] === 'failure') failure = item.event.event as unknown as FailureBody;
        await onEvent(item.event);
        continue;
      }
      const op = item.operation;
      if (op.state !== 'succeeded') throw operationError(op, failure);
      return op;
    }
    throw stop.signal.reason instanceof Error ? stop.signal.reason : new CancelledError('CLIENT_CANCELLED', 'the client cancelled the call');
  } finally {
    options.signal?.removeEventListener('abort', onClientGone);
  }
}
