import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';

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

interface Addon {
  getPeerCred(fd: number): PeerCred;
}

const ADDON_PATH = '../native/build/Release/peercred.node';
let addon: Addon | undefined;
let loadError: unknown;

function load(): Addon | undefined {
  if (addon === undefined && loadError === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    } catch (err) {
      loadError = err;
    }
  }
  return addon;
}

function requireAddon(): Addon {
  const a = load();
  if (a === undefined) {
    throw new PeerCredError(
      'PEERCRED_ADDON_NOT_BUILT',
      'FAILED_PRECONDITION',
      'the peercred native addon is not built: run `npm run build:native` in the repository root',
      { path: fileURLToPath(new URL(ADDON_PATH, import.meta.url)) },
      undefined,
      { cause: loadError },
    );
  }
  return a;
}

/** Whether the native addon is built and loads, so callers can fail fast or tests can skip. */
export function peerCredAvailable(): boolean {
  return load() !== undefined;
}

const CALLER_ERRNOS = new Set(['EBADF', 'ENOTSOCK', 'EAFNOSUPPORT', 'ENOTCONN']);

/**
 * SO_PEERCRED of a raw file descriptor. Only Unix-domain sockets are accepted: other families
 * answer with placeholder ids, which must never be mistaken for a real caller.
 */
export function peerCredOfFd(fd: number): PeerCred {
  const a = requireAddon();
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

/**
 * SO_PEERCRED of a connected Unix-domain `net.Socket`.
 *
 * Node exposes no public way to get a socket's descriptor; the libuv handle behind it
 * (`socket._handle`, a Pipe wrap) has an `fd` getter on Unix, which is what we read. It is
 * absent (or -1) once the socket is closed, and for sockets not backed by a kernel descriptor.
 */
export function peerCredOf(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new PeerCredError(
      'PEERCRED_NO_FD',
      'FAILED_PRECONDITION',
      'socket has no file descriptor (closed, or not a kernel socket)',
    );
  }
  return peerCredOfFd(fd);
}
