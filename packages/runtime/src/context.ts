import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';

/** Who is calling, as the kernel says (SO_PEERCRED), when the transport could tell. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * Everything a request carries through the code that serves it: the op id that correlates
 * logs across processes, the method, the caller, its deadline and cancellation.
 */
export interface RequestContext {
  readonly opId: string;
  readonly method: string;
  readonly service: string;
  readonly peer: PeerCredentials | undefined;
  /** Absolute epoch ms, or undefined when the caller set none. */
  readonly deadline: number | undefined;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  readonly startedAt: number;
  readonly logger: Logger;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

export function currentOpId(): string | undefined {
  return storage.getStore()?.opId;
}

/**
 * Background work (a create that outlives its stream, start-up reconciliation) still wants its
 * log lines and downstream calls tagged: run it under a context carrying its op id.
 */
export function backgroundContext(base: Logger, opId: string, method: string, service: string): RequestContext {
  return {
    opId,
    method,
    service,
    peer: undefined,
    deadline: undefined,
    signal: new AbortController().signal,
    startedAt: Date.now(),
    logger: base.child({ op_id: opId, method }),
  };
}
