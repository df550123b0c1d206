import { closeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { helperv2 } from '@banger/api';
import { PermissionDeniedError, toBangerError } from '@banger/runtime/errors';
import { encodeFrame, FrameReader } from '@banger/runtime/frames';
import { bindUnix, type UnixListener } from '@banger/runtime';
import { peerCredOf, sendFds, socketFdOf } from '@banger/sys';
import type { Logger } from 'pino';
import { connectGuest, type ConnectGuestDeps } from '../../app/connect-guest.js';

/** A request is a VM id, a port, an op id and a timeout: a few hundred bytes at most. */
const MAX_REQUEST_BYTES = 4096;
/** A caller that connects and says nothing is dropped after this long. */
const REQUEST_TIMEOUT_MS = 5000;

export interface ConnectServerOptions {
  socketPath: string;
  stagingDir: string;
  socketGroupGid: number | undefined;
  allowedUids: ReadonlySet<number>;
  deps: ConnectGuestDeps;
  log: Logger;
}

/**
 * The ConnectGuest channel (proto/banger/helper/v2/connect.proto): one framed request per
 * connection, answered with a framed ConnectGuestResponse that carries the connected guest
 * socket as SCM_RIGHTS. It is not gRPC only because gRPC cannot carry descriptors; the caller
 * check is the same as the gRPC socket's.
 */
export async function serveConnect(opts: ConnectServerOptions): Promise<UnixListener> {
  const server = createServer((sock) => void handle(sock, opts));
  return bindUnix(server, {
    socketPath: opts.socketPath,
    mode: 0o660,
    stagingDir: opts.stagingDir,
    ...(opts.socketGroupGid !== undefined ? { owner: { uid: 0, gid: opts.socketGroupGid } } : {}),
    logger: opts.log,
  });
}

async function handle(sock: Socket, opts: ConnectServerOptions): Promise<void> {
  sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
  sock.on('error', () => undefined);
  let req: helperv2.ConnectGuestRequest | undefined;
  try {
    const peer = peerCredOf(sock);
    if (!opts.allowedUids.has(peer.uid)) throw new PermissionDeniedError('UID_NOT_ALLOWED', `uid ${peer.uid} may not use privhelper`, { fields: { uid: peer.uid } });
    req = helperv2.ConnectGuestRequest.decode(await readRequest(sock));
    // The idle timeout guards the request only; the connect has its own (timeout_ms).
    sock.setTimeout(0);
    const started = Date.now();
    const { fd, address } = await connectGuest(opts.deps, { vmId: req.vmId, port: req.port, timeoutMs: req.timeoutMs });
    try {
      send(sock, { ok: true, reason: '', message: '', address, code: '' }, fd);
    } finally {
      closeSync(fd);
    }
    opts.log.info({ op_id: req.opId, vm_id: req.vmId, port: req.port, address, uid: peer.uid, duration_ms: Date.now() - started }, 'guest connection handed over');
  } catch (err) {
    const e = toBangerError(err);
    opts.log.warn({ op_id: req?.opId, vm_id: req?.vmId, port: req?.port, err }, 'guest connection refused');
    send(sock, { ok: false, reason: e.reason, message: e.code === 'INTERNAL' ? 'internal error' : e.message, address: '', code: e.code });
  }
  sock.end();
}

function readRequest(sock: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(MAX_REQUEST_BYTES);
    sock.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
        const body = reader.take();
        if (body) {
          sock.pause();
          resolve(body);
        }
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    sock.once('end', () => reject(new PermissionDeniedError('NO_REQUEST', 'the caller closed before sending a request')));
  });
}

/** The response frame, with the descriptor on its first byte (Node has no write pending here). */
function send(sock: Socket, res: helperv2.ConnectGuestResponse, fd?: number): void {
  const frame = encodeFrame(helperv2.ConnectGuestResponse.encode(res).finish());
  const sockfd = socketFdOf(sock);
  if (sockfd === undefined) return;
  const sent = sendFds(sockfd, frame, fd === undefined ? [] : [fd]);
  if (sent < frame.length) sock.write(frame.subarray(sent));
}
