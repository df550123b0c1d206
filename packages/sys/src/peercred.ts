import type { Socket } from 'node:net';
import { addonLoadError, addonPath, loadAddon, type NativeAddon } from './native.js';
import { socketFdOf } from './socket-fd.js';

/** Credentials the kernel recorded for the peer process when it connected (SO_PEERCRED). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export type PeerCredErrorKind = 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'INTERNAL';

/**
 * Why the peer of a socket could not be identified. The root helper must treat any of these as
 * "caller unknown" and refuse; `code` keeps the errno name (ENOTSOCK, EBADF, ...) when there is one.
 */
export class PeerCredError extends Error {
  override readonly name = 'PeerCredError';
  constructor(
    readonly reason: 'PEERCRED_ADDON_NOT_BUILT' | 'PEERCRED_NO_FD' | 'PEERCRED_GETSOCKOPT_FAILED',
    readonly kind: PeerCredErrorKind,
    message: string,
    readonly fields: Record<string, string | number> = {},
    readonly code?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function requirePeerCredAddon(): NativeAddon {
  const a = loadAddon();
  if (a === undefined) {
    throw new PeerCredError(
      'PEERCRED_ADDON_NOT_BUILT',
      'FAILED_PRECONDITION',
      'the @banger/sys native addon is not built: run `npm run build:native` in the repository root',
      { path: addonPath },
      undefined,
      { cause: addonLoadError() },
    );
  }
  return a;
}

/** Whether the native addon is built and loads, so callers can fail fast or tests can skip. */
export function peerCredAvailable(): boolean {
  return loadAddon() !== undefined;
}

const CALLER_ERRNOS = new Set(['EBADF', 'ENOTSOCK', 'EAFNOSUPPORT', 'ENOTCONN']);

/**
 * SO_PEERCRED of a raw file descriptor. Only Unix-domain sockets are accepted: other families
 * answer with placeholder ids, which must never be mistaken for a real caller.
 */
export function peerCredOfFd(fd: number): PeerCred {
  const a = requirePeerCredAddon();
  try {
    return a.getPeerCred(fd);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const errno = typeof code === 'string' ? code : 'EUNKNOWN';
    throw new PeerCredError(
      'PEERCRED_GETSOCKOPT_FAILED',
      CALLER_ERRNOS.has(errno) ? 'INVALID_ARGUMENT' : 'INTERNAL',
      `getsockopt(SO_PEERCRED) failed: ${errno}`,
      { fd, errno },
      errno,
      { cause: err },
    );
  }
}

/** SO_PEERCRED of a connected Unix-domain `net.Socket` (its descriptor: see socketFdOf). */
export function peerCredOf(socket: Socket): PeerCred {
  const fd = socketFdOf(socket);
  if (fd === undefined) {
    throw new PeerCredError('PEERCRED_NO_FD', 'FAILED_PRECONDITION', 'socket has no file descriptor (closed, or not a kernel socket)');
  }
  return peerCredOfFd(fd);
}
