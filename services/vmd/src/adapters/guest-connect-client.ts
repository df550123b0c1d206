import { closeSync } from 'node:fs';
import { once } from 'node:events';
import { createConnection, Socket } from 'node:net';
import { helperv2 } from '@banger/api';
import { BangerError, ERROR_CODES, type ErrorCode, UnavailableError, unreachableReason } from '@banger/runtime/errors';
import { encodeFrame, FrameReader } from '@banger/runtime/frames';
import { recvFdsWhenReady, socketFdOf } from '@banger/sys';
import type { GuestConnector } from '../ports/guest-connect.js';

const MAX_RESPONSE_BYTES = 4096;
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * GuestConnector over privhelper's ConnectGuest channel (helper v2 connect.proto): one Unix
 * connection per guest connection, answered with the connected socket by SCM_RIGHTS.
 */
export class HelperGuestConnector implements GuestConnector {
  constructor(private readonly socketPath: string) {}

  async connect(vmId: string, port: number, opts: { opId: string; timeoutMs?: number }): Promise<Socket> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const chan = createConnection(this.socketPath);
    // Node must not read this socket: bytes it read would take the descriptor with them.
    chan.pause();
    try {
      await once(chan, 'connect').catch((err: unknown) => {
        throw new UnavailableError(unreachableReason('privhelper'), `privhelper is unavailable: cannot connect to ${this.socketPath}: ${(err as Error).message}`, { fields: { daemon: 'privhelper' }, cause: err });
      });
      chan.write(encodeFrame(helperv2.ConnectGuestRequest.encode({ vmId, port, opId: opts.opId, timeoutMs }).finish()));
      const { res, fd } = await readResponse(chan, timeoutMs + 2000);
      if (!res.ok) {
        if (fd !== undefined) closeSync(fd);
        const code = (ERROR_CODES as readonly string[]).includes(res.code) ? (res.code as ErrorCode) : 'INTERNAL';
        throw new BangerError(code, /^[A-Z][A-Z0-9_]*$/.test(res.reason) ? res.reason : 'INTERNAL', res.message || 'privhelper refused the guest connection', { fields: { vm_id: vmId, port } });
      }
      if (fd === undefined) throw new UnavailableError('NO_DESCRIPTOR', 'privhelper answered without a socket');
      return new Socket({ fd, readable: true, writable: true });
    } finally {
      chan.destroy();
    }
  }
}

/** Reads one response frame with recvmsg (the descriptor rides on its first byte). */
async function readResponse(chan: Socket, timeoutMs: number): Promise<{ res: helperv2.ConnectGuestResponse; fd: number | undefined }> {
  const sockfd = socketFdOf(chan);
  if (sockfd === undefined) throw new UnavailableError(unreachableReason('privhelper'), 'privhelper closed the connect channel', { fields: { daemon: 'privhelper' } });
  const reader = new FrameReader(MAX_RESPONSE_BYTES);
  const deadline = Date.now() + timeoutMs;
  let fd: number | undefined;
  for (;;) {
    const got = await recvFdsWhenReady(sockfd, MAX_RESPONSE_BYTES, 1, { timeoutMs: Math.max(1, deadline - Date.now()) }).catch((err: unknown) => {
      if (fd !== undefined) closeSync(fd);
      throw err;
    });
    if (got.fds.length > 0) {
      if (fd !== undefined) got.fds.forEach((f) => closeSync(f));
      else fd = got.fds[0];
    }
    if (got.data.length === 0 && got.fds.length === 0) {
      if (fd !== undefined) closeSync(fd);
      throw new UnavailableError(unreachableReason('privhelper'), 'privhelper closed the connect channel before answering', { fields: { daemon: 'privhelper' } });
    }
    reader.push(got.data);
    const body = reader.take();
    if (body) return { res: helperv2.ConnectGuestResponse.decode(body), fd };
  }
}
