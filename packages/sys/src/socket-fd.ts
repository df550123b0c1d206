import type { Server, Socket } from 'node:net';

/**
 * The kernel descriptor behind a `net.Socket` or `net.Server`, or undefined once it is closed.
 * Node has no public accessor; the libuv handle (`_handle`, a Pipe or TCP wrap) has an `fd`
 * getter on Unix. Node still owns the descriptor: never close it yourself.
 */
export function socketFdOf(socket: Socket | Server): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
