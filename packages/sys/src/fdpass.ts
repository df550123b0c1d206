import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCodeOf, mapped } from './errors.js';
import { requireAddon } from './native.js';
import type { ReceivedFds } from './types.js';

// SCM_RIGHTS over a Unix socket. Both calls are non-blocking whatever the socket's mode
// (MSG_DONTWAIT): not ready is a WOULD_BLOCK SysError with errnoCode EAGAIN.
//
// With a Node `net.Socket`, Node's own reads must be off, or libuv reads the bytes first and
// the kernel drops the descriptors riding on them: receive on a socket accepted with
// `pauseOnConnect: true` (or never resumed), send when no Node write is pending on it. The fd
// comes from socketFdOf(); Node keeps owning it.

/**
 * Sends `data` (at least one byte) with `fds` attached (at most 253). Returns the bytes the
 * kernel took: on a stream socket that may be less than data.length, the descriptors going
 * with the first part.
 */
export function sendFds(sockfd: number, data: Buffer, fds: readonly number[]): number {
  return mapped('send', undefined, () => requireAddon().sendFds(sockfd, data, fds));
}

/**
 * Receives up to `maxBytes` and up to `maxFds` descriptors (O_CLOEXEC; the caller owns and must
 * close them). More descriptors than maxFds refuses the whole message (MESSAGE_TOO_LARGE),
 * closing what arrived. Empty data and no fds: the peer closed.
 */
export function recvFds(sockfd: number, maxBytes: number, maxFds: number): ReceivedFds {
  return mapped('receive', undefined, () => requireAddon().recvFds(sockfd, maxBytes, maxFds));
}

export interface RecvWaitOptions {
  /** Give up with WOULD_BLOCK after this long (default 5000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * recvFds, retried on EAGAIN with a short backoff (1 ms doubling to 50 ms) so the event loop
 * keeps running, for a message the peer is known to be about to send.
 */
export async function recvFdsWhenReady(sockfd: number, maxBytes: number, maxFds: number, opts: RecvWaitOptions = {}): Promise<ReceivedFds> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      return recvFds(sockfd, maxBytes, maxFds);
    } catch (err) {
      if (errnoCodeOf(err) !== 'EAGAIN' || Date.now() >= deadline) throw err;
    }
    await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined);
  }
}
