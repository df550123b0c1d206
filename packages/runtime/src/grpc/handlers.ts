import type {
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
} from '@grpc/grpc-js';
import { runWithContext, type RequestContext } from '../context.js';
import { CancelledError } from '../errors.js';
import { getRootLogger, type Logger } from '../logging.js';
import { adoptOrMintOpId, OP_ID_METADATA_KEY } from '../opid.js';
import { dispatchInfo } from './interceptor.js';
import { statusFromError } from './status.js';

export type UnaryHandler<Req, Res> = (request: Req, ctx: RequestContext) => Promise<Res>;

/** Writes one message, waiting for the transport to drain; rejects once the client is gone. */
export type Send<Res> = (message: Res) => Promise<void>;
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: RequestContext, send: Send<Res>) => Promise<void>;
/** The client's messages in order; the iteration ends when the client half-closes. */
export type BidiStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: RequestContext, send: Send<Res>) => Promise<void>;
/** The client's messages in order, then one answer; the iteration ends when the client half-closes. */
export type ClientStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: RequestContext) => Promise<Res>;

function deadlineOf(call: { getDeadline(): Date | number }): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

type SurfaceCall = (ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) & {
  getPath(): string;
};

const serviceOf = new WeakMap<Logger, string>();

/** The root logger's `service` binding; `bindings()` re-parses JSON, so it is read once per logger. */
function rootService(root: Logger): string {
  let service = serviceOf.get(root);
  if (service === undefined) {
    service = String(root.bindings()['service'] ?? '');
    serviceOf.set(root, service);
  }
  return service;
}

/**
 * Builds the request context from what the interceptor normalised into the call metadata.
 * It is on every call's path, so the request logger is made on first use and the cancellation
 * error only when a running handler is actually cancelled (grpc-js also reports a stream's
 * normal close as a cancel). Call `settle()` once the handler is done.
 */
export function contextForCall(call: SurfaceCall): { ctx: RequestContext; settle: () => void } {
  // Set by the dispatch interceptor; a server without it (unit tests) parses the metadata.
  const info = dispatchInfo(call.metadata);
  const opId = info?.opId ?? adoptOrMintOpId(call.metadata.get(OP_ID_METADATA_KEY)[0]).opId;
  const method = call.getPath();
  let settled = false;
  // Most handlers never look at their signal: the AbortController is made on first use.
  let controller: AbortController | undefined;
  let cancelled: CancelledError | undefined;
  (call as ServerUnaryCall<unknown, unknown>).on('cancelled', () => {
    if (settled) return;
    cancelled = new CancelledError('CLIENT_CANCELLED', 'the client cancelled the call');
    controller?.abort(cancelled);
  });
  const root = getRootLogger();
  let logger: Logger | undefined;
  const ctx: RequestContext = {
    opId,
    method,
    service: rootService(root),
    peer: info?.peer,
    deadline: deadlineOf(call),
    get signal(): AbortSignal {
      if (!controller) {
        controller = new AbortController();
        if (cancelled) controller.abort(cancelled);
      }
      return controller.signal;
    },
    startedAt: Date.now(),
    get logger(): Logger {
      logger ??= root.child({ op_id: opId, method });
      return logger;
    },
  };
  return { ctx, settle: () => void (settled = true) };
}

function logUnexpected(ctx: RequestContext, err: unknown): void {
  const code = (err as { code?: unknown }).code;
  const isBanger = err instanceof Error && 'reason' in err && typeof code === 'string';
  if (!isBanger) ctx.logger.error({ err }, 'unexpected error');
  else if (code === 'INTERNAL') ctx.logger.error({ err }, 'internal error');
}

/** Adapts an async domain-facing handler to grpc-js, running it inside its request context. */
export function unary<Req, Res>(handler: UnaryHandler<Req, Res>): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const { ctx, settle } = contextForCall(call);
    runWithContext(ctx, () => handler(call.request, ctx)).then(
      (res) => {
        settle();
        callback(null, res);
      },
      (err: unknown) => {
        settle();
        logUnexpected(ctx, err);
        callback(statusFromError(err, ctx.opId));
      },
    );
  };
}

/** `send` for a streaming call: waits for the transport to drain, rejects once the client is gone. */
function sender<Res>(call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>, ctx: RequestContext): Send<Res> {
  return (message) =>
    new Promise<void>((resolve, reject) => {
      if (ctx.signal.aborted || call.cancelled) {
        const reason: unknown = ctx.signal.reason;
        reject(reason instanceof Error ? reason : new CancelledError('CLIENT_CANCELLED', 'the client cancelled the call'));
        return;
      }
      const flushed = call.write(message);
      if (flushed) resolve();
      else call.once('drain', () => resolve());
    });
}

/** Ends a streaming call after its handler: end on success, the error's status otherwise. */
function finish(call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>, ctx: RequestContext, settle: () => void, done: Promise<void>): void {
  done.then(
    () => {
      settle();
      call.end();
    },
    (err: unknown) => {
      settle();
      if (call.cancelled) return;
      logUnexpected(ctx, err);
      call.emit('error', statusFromError(err, ctx.opId));
    },
  );
}

/** Adapts an async client-streaming handler: the requests are read as they come, one answer at the end. */
export function clientStream<Req, Res>(handler: ClientStreamHandler<Req, Res>): handleClientStreamingCall<Req, Res> {
  return (call: ServerReadableStream<Req, Res>, callback: sendUnaryData<Res>) => {
    const { ctx, settle } = contextForCall(call);
    runWithContext(ctx, () => handler(call as AsyncIterable<Req>, ctx)).then(
      (res) => {
        settle();
        callback(null, res);
      },
      (err: unknown) => {
        settle();
        if (call.cancelled) return;
        logUnexpected(ctx, err);
        callback(statusFromError(err, ctx.opId));
      },
    );
  };
}

/** Adapts an async bidirectional-streaming handler (same contract as serverStream). */
export function bidiStream<Req, Res>(handler: BidiStreamHandler<Req, Res>): handleBidiStreamingCall<Req, Res> {
  return (call: ServerDuplexStream<Req, Res>) => {
    const { ctx, settle } = contextForCall(call);
    finish(call, ctx, settle, runWithContext(ctx, () => handler(call as AsyncIterable<Req>, ctx, sender(call, ctx))));
  };
}

/** Adapts an async server-streaming handler; `send` respects back-pressure and cancellation. */
export function serverStream<Req, Res>(handler: ServerStreamHandler<Req, Res>): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const { ctx, settle } = contextForCall(call);
    const send = sender(call, ctx);
    finish(call, ctx, settle, runWithContext(ctx, () => handler(call.request, ctx, send)));
  };
}
