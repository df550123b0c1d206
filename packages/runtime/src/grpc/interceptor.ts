import { Metadata, ServerInterceptingCall, status as GrpcStatus, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { PeerCredentials } from '../context.js';
import { FailedPreconditionError, type BangerError } from '../errors.js';
import { adoptOrMintOpId, OP_ID_METADATA_KEY } from '../opid.js';
import { API_VERSION, API_VERSION_METADATA_KEY, checkApiVersion } from '../version.js';
import { parsePeerAddress } from './peer.js';
import { codeName, decodeStatusDetails, ensureStatusDetails, statusFromError } from './status.js';

/** What the interceptor established for a call, handed to its handler (see dispatchInfo). */
export interface DispatchInfo {
  opId: string;
  peer: PeerCredentials | undefined;
}

/**
 * The interceptor's findings per call, keyed by the call's metadata object (grpc-js hands the
 * same instance on to the handler). Nothing a client sends can reach this map, so the peer
 * in it is the kernel's word, and the handler need not parse the op id again.
 */
const dispatched = new WeakMap<Metadata, DispatchInfo>();

export function dispatchInfo(md: Metadata): DispatchInfo | undefined {
  return dispatched.get(md);
}

/** Peers are few (one per client connection): parse each SO_PEERCRED stamp once. */
const peerCache = new Map<string, PeerCredentials | undefined>();

function peerOf(address: string): PeerCredentials | undefined {
  if (peerCache.has(address)) return peerCache.get(address);
  if (peerCache.size >= 1024) peerCache.clear();
  const peer = parsePeerAddress(address);
  peerCache.set(address, peer);
  return peer;
}

export interface CallRecord {
  method: string;
  code: number;
  durationMs: number;
  opId: string;
  /** The banger reason of a failed call (ErrorInfo.reason), e.g. VM_NOT_FOUND. */
  reason?: string | undefined;
}

export interface InterceptorOptions {
  logger: Logger;
  /** `rpc` for vmd/imaged; `helper rpc` for privhelper, so its lines stand out. */
  logPrefix: string;
  apiVersion?: string;
  /** Returns an error to refuse the caller (privhelper's uid allow-list). */
  authorize?: (peer: PeerCredentials | undefined, method: string) => BangerError | undefined;
  onCallFinished?: (record: CallRecord) => void;
}

function firstString(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The single dispatch-entry interceptor of every banger daemon. For each call it adopts or
 * mints the op id, verifies API version and caller, returns the id in headers and trailers,
 * stamps a google.rpc.Status with ErrorInfo on every error status, and writes exactly one
 * completion line with method, code and duration.
 */
export function bangerServerInterceptor(options: InterceptorOptions): ServerInterceptor {
  const apiVersion = options.apiVersion ?? API_VERSION;
  return (methodDescriptor, call) => {
    const method = methodDescriptor.path;
    const startedAt = performance.now();
    let opId = '';
    let finished = false;
    let peer: PeerCredentials | undefined;

    const finish = (code: number, details: string | undefined, reason?: string): void => {
      if (finished) return;
      finished = true;
      const durationMs = Math.round((performance.now() - startedAt) * 1000) / 1000;
      const fields = {
        op_id: opId,
        method,
        code: codeName(code),
        duration_ms: durationMs,
        ...(peer ? { peer_uid: peer.uid, peer_pid: peer.pid } : {}),
      };
      if (code === GrpcStatus.OK) options.logger.info(fields, `${options.logPrefix} completed`);
      else if (code === GrpcStatus.INTERNAL || code === GrpcStatus.UNKNOWN || code === GrpcStatus.DATA_LOSS)
        options.logger.error({ ...fields, error: details }, `${options.logPrefix} failed`);
      else options.logger.info({ ...fields, error: details }, `${options.logPrefix} failed`);
      options.onCallFinished?.({ method, code, durationMs, opId, reason });
    };

    const icall: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (md, nextMd) => {
            opId = adoptOrMintOpId(firstString(md, OP_ID_METADATA_KEY)).opId;
            md.set(OP_ID_METADATA_KEY, opId);
            const address = call.getConnectionInfo().remoteAddress;
            peer = address === undefined ? undefined : peerOf(address);
            dispatched.set(md, { opId, peer });
            // A stream's client learns the op id from the headers before the first message. A
            // unary call's headers go out with its answer (one write instead of two).
            if (methodDescriptor.responseStream) icall.sendMetadata(new Metadata());

            const version = checkApiVersion(firstString(md, API_VERSION_METADATA_KEY), apiVersion);
            const refusal = !version.ok
              ? new FailedPreconditionError('BAD_VERSION', version.message, { fields: { server_api_version: apiVersion } })
              : options.authorize?.(peer, method);
            if (refusal) {
              icall.sendStatus(statusFromError(refusal, opId));
              return;
            }
            nextMd(md);
          },
          onCancel: () => finish(GrpcStatus.CANCELLED, 'cancelled by client'),
        });
      },
      sendMetadata: (md, next) => {
        md.set(OP_ID_METADATA_KEY, opId);
        next(md);
      },
      sendStatus: (status, next) => {
        const stamped = ensureStatusDetails(status, opId);
        finish(stamped.code, stamped.details, stamped.code === GrpcStatus.OK ? undefined : decodeStatusDetails(stamped.metadata ?? undefined)?.reason);
        next(stamped);
      },
    });
    return icall;
  };
}
