import type {
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
} from '@grpc/grpc-js';
import { runWithContext, type PeerCredentials, type RequestContext } from '../context.js';
import { CancelledError } from '../errors.js';
import { getRootLogger } from '../logging.js';
import { adoptOrMintOpId, OP_ID_METADATA_KEY } from '../opid.js';
import { PEER_METADATA_KEY } from './interceptor.js';
import { statusFromError } from './status.js';

export type UnaryHandler<Req, Res> = (request: Req, ctx: RequestContext) => Promise<Res>;

/** Writes one message, waiting for the transport to drain; rejects once the client is gone. */
export type Send<Res> = (message: Res) => Promise<void>;
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: RequestContext, send: Send<Res>) => Promise<void>;

function peerFrom(md: Metadata): PeerCredentials | undefined {
  const raw = md.get(PEER_METADATA_KEY)[0];
  if (typeof raw !== 'string') return undefined;
  const [pid, uid, gid] = raw.split(',').map(Number);
  if (pid === undefined || uid === undefined || gid === undefined) return undefined;
  return { pid, uid, gid };
}

function deadlineOf(call: { getDeadline(): Date | number }): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

type SurfaceCall = (ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>) & {
  getPath(): string;
};

/** Builds the request context from what the interceptor normalised into the call metadata. */
export function contextForCall(call: SurfaceCall): { ctx: RequestContext; controller: AbortController } {
  const opId = adoptOrMintOpId(call.metadata.get(OP_ID_METADATA_KEY)[0]).opId;
  const method = call.getPath();
  const controller = new AbortController();
  const deadline = deadlineOf(call);
  call.on('cancelled', () => controller.abort(new CancelledError('CLIENT_CANCELLED', 'the client cancelled the call')));
  const root = getRootLogger();
  const ctx: RequestContext = {
    opId,
    method,
    service: String(root.bindings()['service'] ?? ''),
    peer: peerFrom(call.metadata),
    deadline,
    signal: controller.signal,
    startedAt: Date.now(),
    logger: root.child({ op_id: opId, method }),
  };
  return { ctx, controller };
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
    const { ctx } = contextForCall(call);
    runWithContext(ctx, () => handler(call.request, ctx)).then(
      (res) => callback(null, res),
      (err: unknown) => {
        logUnexpected(ctx, err);
        callback(statusFromError(err, ctx.opId));
      },
    );
  };
}

/** Adapts an async server-streaming handler; `send` respects back-pressure and cancellation. */
export function serverStream<Req, Res>(handler: ServerStreamHandler<Req, Res>): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const { ctx } = contextForCall(call);
    const send: Send<Res> = (message) =>
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
    runWithContext(ctx, () => handler(call.request, ctx, send)).then(
      () => call.end(),
      (err: unknown) => {
        if (call.cancelled) return;
        logUnexpected(ctx, err);
        call.emit('error', statusFromError(err, ctx.opId));
      },
    );
  };
}
