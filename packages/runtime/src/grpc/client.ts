import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { currentOpId } from '../context.js';
import { mintOpId, OP_ID_METADATA_KEY } from '../opid.js';
import { API_VERSION, API_VERSION_METADATA_KEY } from '../version.js';
import { MAX_REPLY_BYTES } from './reply-limit.js';
import { codeName, decodeStatusDetails } from './status.js';

/**
 * A failed call as seen by a banger client: gRPC code, stable reason and the op id the
 * server used. `message` ends with ` (op-XXXXXXXXXXXX)`, so printing it is enough for a user
 * to quote the id to an operator.
 */
export class RpcError extends Error {
  readonly code: grpc.status;
  readonly codeName: string;
  readonly reason: string;
  readonly opId: string | undefined;
  readonly details: string;
  readonly errorMetadata: Readonly<Record<string, string>>;
  readonly fieldViolations: readonly { field: string; description: string }[];
  /**
   * The daemon this client was talking to (`vmd`, `imaged`, `privhelper`), when the client
   * was given its name: a downstream failure can then say who failed.
   */
  readonly peer: string | undefined;
  /**
   * True when the call never got an answer from the daemon itself (nothing listening, the
   * connection dropped, no banger status on the reply): the peer is unreachable, as opposed to
   * a daemon that answered UNAVAILABLE for a reason of its own.
   */
  readonly unreachable: boolean;

  constructor(init: {
    code: grpc.status;
    details: string;
    reason?: string | undefined;
    opId?: string | undefined;
    errorMetadata?: Record<string, string>;
    fieldViolations?: { field: string; description: string }[];
    peer?: string | undefined;
    unreachable?: boolean;
    cause?: unknown;
  }) {
    super(init.opId ? `${init.details} (${init.opId})` : init.details, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RpcError';
    this.code = init.code;
    this.codeName = codeName(init.code);
    this.reason = init.reason ?? this.codeName;
    this.opId = init.opId;
    this.details = init.details;
    this.errorMetadata = init.errorMetadata ?? {};
    this.fieldViolations = init.fieldViolations ?? [];
    this.peer = init.peer;
    this.unreachable = init.unreachable ?? false;
  }

  /** Rebuilds the typed error from a grpc-js ServiceError, using the status details when present. */
  static fromServiceError(err: grpc.ServiceError, sentOpId: string | undefined, peer?: string): RpcError {
    const decoded = decodeStatusDetails(err.metadata);
    const trailerOpId = err.metadata?.get(OP_ID_METADATA_KEY)[0];
    const opId = decoded?.metadata['op_id'] ?? (typeof trailerOpId === 'string' ? trailerOpId : sentOpId);
    const { op_id: _omit, ...rest } = decoded?.metadata ?? {};
    return new RpcError({
      code: err.code,
      details: err.details || err.message,
      reason: decoded?.reason,
      opId,
      errorMetadata: rest,
      fieldViolations: decoded?.fieldViolations ?? [],
      peer,
      // Every status a banger daemon sends carries ErrorInfo (ensureStatusDetails): an
      // UNAVAILABLE without one was made by grpc-js on this side of the socket.
      unreachable: err.code === grpc.status.UNAVAILABLE && decoded?.domain === undefined,
      cause: err,
    });
  }
}

export interface CallOptions {
  /** Absolute deadline in epoch ms, or a timeout in ms from now. */
  deadline?: number;
  timeoutMs?: number;
  /** Explicit op id; default: the current request's, else a fresh one. */
  opId?: string;
  signal?: AbortSignal;
}

/**
 * Reconnect backoff for a daemon on a local Unix socket. grpc-js's defaults (1 s, growing to
 * 120 s) are for remote servers; between attempts a channel fails every call at once with its
 * last error. After a daemon was down a while, its clients went on failing for seconds to
 * minutes after it was back (vmd's creates got HELPER_UNAVAILABLE from a restarted privhelper).
 * Reconnecting to a local socket is cheap, so retry within a second.
 */
export const LOCAL_RECONNECT: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

/** How a ServiceClient is set up beyond its socket. */
export interface ServiceClientOptions {
  /** The daemon on the other end, named in errors when it cannot be reached. */
  peer?: string;
  channel?: grpc.ChannelOptions;
}

type MethodDef<Req, Res> = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: Req) => Buffer;
  responseDeserialize: (value: Buffer) => Res;
};

type ReqOf<M> = M extends MethodDef<infer Req, unknown> ? Req : never;
type ResOf<M> = M extends MethodDef<never, infer Res> ? Res : never;
type UnaryKeys<D> = { [K in keyof D]: D[K] extends { responseStream: false; requestStream: false } ? K : never }[keyof D];
type ServerStreamKeys<D> = { [K in keyof D]: D[K] extends { responseStream: true; requestStream: false } ? K : never }[keyof D];
type ClientStreamKeys<D> = { [K in keyof D]: D[K] extends { responseStream: false; requestStream: true } ? K : never }[keyof D];
type BidiStreamKeys<D> = { [K in keyof D]: D[K] extends { responseStream: true; requestStream: true } ? K : never }[keyof D];

/** A bidirectional call: write requests (false: wait for 'drain'), end() half-closes, iterate the responses. */
export interface DuplexCall<Req, Res> extends AsyncIterable<Res> {
  write(message: Req): boolean;
  onDrain(): Promise<void>;
  end(): void;
  cancel(): void;
}

/** A client-streaming call: write requests (false: wait for 'drain'), end() half-closes, `response` is the one answer. */
export interface RequestStreamCall<Req, Res> {
  write(message: Req): boolean;
  onDrain(): Promise<void>;
  end(): void;
  cancel(): void;
  readonly response: Promise<Res>;
}

/** A server stream with the op id the server confirmed in its response headers. */
export interface ResponseStream<T> extends AsyncIterable<T> {
  readonly opId: Promise<string | undefined>;
  cancel(): void;
}

function resolveOpId(options: CallOptions | undefined): string {
  return options?.opId ?? currentOpId() ?? mintOpId();
}

function buildMetadata(opId: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(OP_ID_METADATA_KEY, opId);
  md.set(API_VERSION_METADATA_KEY, API_VERSION);
  return md;
}

function callOptions(options: CallOptions | undefined): grpc.CallOptions {
  const out: grpc.CallOptions = {};
  if (options?.deadline !== undefined) out.deadline = options.deadline;
  else if (options?.timeoutMs !== undefined) out.deadline = Date.now() + options.timeoutMs;
  return out;
}

/**
 * A typed client for one service definition (ts-proto's `XxxService` constant) on a Unix
 * socket. Every call forwards the op id of the request being served (or a fresh one) and the
 * API version, and failures come back as RpcError.
 */
export class ServiceClient<D extends Record<string, MethodDef<never, unknown>>> {
  readonly raw: grpc.Client;
  readonly peer: string | undefined;

  constructor(
    private readonly definition: D,
    readonly socketPath: string,
    options: ServiceClientOptions = {},
  ) {
    this.peer = options.peer;
    this.raw = new grpc.Client(`unix://${resolve(socketPath)}`, grpc.credentials.createInsecure(), {
      ...LOCAL_RECONNECT,
      'grpc.max_receive_message_length': MAX_REPLY_BYTES,
      ...options.channel,
    });
  }

  unary<K extends UnaryKeys<D>>(method: K, request: ReqOf<D[K]>, options?: CallOptions): Promise<ResOf<D[K]>> {
    const def = this.definition[method] as unknown as MethodDef<ReqOf<D[K]>, ResOf<D[K]>>;
    const opId = resolveOpId(options);
    return new Promise((resolve, reject) => {
      const call = this.raw.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        buildMetadata(opId),
        callOptions(options),
        (err, value) => {
          if (err) reject(RpcError.fromServiceError(err, opId, this.peer));
          else resolve(value as ResOf<D[K]>);
        },
      );
      options?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  serverStream<K extends ServerStreamKeys<D>>(method: K, request: ReqOf<D[K]>, options?: CallOptions): ResponseStream<ResOf<D[K]>> {
    const def = this.definition[method] as unknown as MethodDef<ReqOf<D[K]>, ResOf<D[K]>>;
    const sentOpId = resolveOpId(options);
    const call = this.raw.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request, buildMetadata(sentOpId), callOptions(options));
    options?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    const opId = new Promise<string | undefined>((resolve) => {
      call.once('metadata', (md: grpc.Metadata) => {
        const v = md.get(OP_ID_METADATA_KEY)[0];
        resolve(typeof v === 'string' ? v : sentOpId);
      });
      call.once('status', () => resolve(sentOpId));
    });
    const peer = this.peer;
    async function* iterate(): AsyncGenerator<ResOf<D[K]>> {
      let ended = false;
      try {
        for await (const message of call) yield message as ResOf<D[K]>;
        ended = true;
      } catch (err) {
        ended = true;
        if (err && typeof err === 'object' && 'code' in err) throw RpcError.fromServiceError(err as grpc.ServiceError, sentOpId, peer);
        throw err;
      } finally {
        // A consumer that stops iterating early detaches: tell the server.
        if (!ended) call.cancel();
      }
    }
    const iterable = iterate();
    return {
      opId,
      cancel: () => call.cancel(),
      [Symbol.asyncIterator]: () => iterable,
    };
  }

  clientStream<K extends ClientStreamKeys<D>>(method: K, options?: CallOptions): RequestStreamCall<ReqOf<D[K]>, ResOf<D[K]>> {
    const def = this.definition[method] as unknown as MethodDef<ReqOf<D[K]>, ResOf<D[K]>>;
    const opId = resolveOpId(options);
    let call!: grpc.ClientWritableStream<ReqOf<D[K]>>;
    const response = new Promise<ResOf<D[K]>>((resolve, reject) => {
      call = this.raw.makeClientStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, buildMetadata(opId), callOptions(options), (err, value) => {
        if (err) reject(RpcError.fromServiceError(err, opId, this.peer));
        else resolve(value as ResOf<D[K]>);
      });
    });
    // A failed write (the server already answered) surfaces through `response`.
    call.on('error', () => undefined);
    options?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    return {
      write: (message) => call.write(message),
      onDrain: () => new Promise<void>((resolve) => call.once('drain', () => resolve())),
      end: () => call.end(),
      cancel: () => call.cancel(),
      response,
    };
  }

  bidiStream<K extends BidiStreamKeys<D>>(method: K, options?: CallOptions): DuplexCall<ReqOf<D[K]>, ResOf<D[K]>> {
    const def = this.definition[method] as unknown as MethodDef<ReqOf<D[K]>, ResOf<D[K]>>;
    const opId = resolveOpId(options);
    const call = this.raw.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, buildMetadata(opId), callOptions(options));
    options?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    const peer = this.peer;
    async function* iterate(): AsyncGenerator<ResOf<D[K]>> {
      try {
        for await (const message of call) yield message as ResOf<D[K]>;
      } catch (err) {
        if (err && typeof err === 'object' && 'code' in err) throw RpcError.fromServiceError(err as grpc.ServiceError, opId, peer);
        throw err;
      }
    }
    const iterable = iterate();
    return {
      write: (message) => call.write(message),
      onDrain: () => new Promise<void>((resolve) => call.once('drain', () => resolve())),
      end: () => call.end(),
      cancel: () => call.cancel(),
      [Symbol.asyncIterator]: () => iterable,
    };
  }

  close(): void {
    this.raw.close();
  }
}
