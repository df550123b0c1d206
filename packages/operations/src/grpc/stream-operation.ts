import { CancelledError, type RequestContext } from '@banger/runtime';
import type { JsonObject, OperationEvent } from '@banger/store';
import { followOperation } from '../app/follow.js';
import type { OperationHandle, OperationRunner } from '../app/runner.js';
import type { OperationLog } from '../ports.js';

export interface StreamOperationDeps {
  runner: OperationRunner;
  operations: OperationLog;
}

/**
 * Runs a use case as a durable operation keyed by the call's dispatch op id and streams its
 * stored events to the caller. A caller that goes away only detaches, unless it asked for
 * cancel_on_detach.
 */
export async function streamOperation(
  deps: StreamOperationDeps,
  ctx: RequestContext,
  start: { kind: string; target: string; cancelOnDetach: boolean },
  work: (op: OperationHandle) => Promise<JsonObject | undefined | void>,
  send: (event: OperationEvent) => Promise<void>,
): Promise<void> {
  const { opId, done } = await deps.runner.start({ opId: ctx.opId, kind: start.kind, target: start.target }, work);
  const onDetach = (): void => {
    if (!start.cancelOnDetach) return;
    deps.runner.cancel(opId, new CancelledError('CLIENT_DETACHED', 'the client went away and asked for cancel_on_detach')).catch(() => undefined);
  };
  ctx.signal.addEventListener('abort', onDetach, { once: true });
  try {
    await followOperation(deps.operations, opId, send, { signal: ctx.signal, abandon: done });
  } finally {
    ctx.signal.removeEventListener('abort', onDetach);
  }
}
