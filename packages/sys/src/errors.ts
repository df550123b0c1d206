import { BangerError, type ErrorCode } from '@banger/runtime/errors';
import type { FileType } from './types.js';

export interface SysErrorOptions {
  path?: string | undefined;
  errnoCode?: string | undefined;
  syscall?: string | undefined;
  fields?: Record<string, string | number | boolean | undefined>;
  cause?: unknown;
}

/**
 * A file or socket operation that was refused or failed. Root code branches on `reason`
 * (SYMLINK_REFUSED, PATH_ESCAPE, ...); `errnoCode` keeps the kernel's answer (ELOOP) and
 * `path` the path as banger named it, for the log and for the caller.
 */
export class SysError extends BangerError {
  readonly path: string | undefined;
  readonly errnoCode: string | undefined;
  readonly syscall: string | undefined;

  constructor(code: ErrorCode, reason: string, message: string, options: SysErrorOptions = {}) {
    super(code, reason, message, {
      fields: { path: options.path, errno: options.errnoCode, syscall: options.syscall, ...options.fields },
      cause: options.cause,
    });
    this.path = options.path;
    this.errnoCode = options.errnoCode;
    this.syscall = options.syscall;
  }
}

/** A directory root is about to trust is owned by someone else or writable by others. */
export class UnsafeDirectoryError extends SysError {
  readonly uid: number;
  readonly mode: number;
  constructor(reason: 'UNSAFE_OWNER' | 'UNSAFE_MODE', path: string, uid: number, mode: number, expectedUid?: number) {
    const perm = (mode & 0o7777).toString(8).padStart(4, '0');
    const why = reason === 'UNSAFE_OWNER' ? `owned by uid ${uid}, expected uid ${expectedUid ?? '?'}` : `mode ${perm} lets group or others write`;
    super('FAILED_PRECONDITION', reason, `refusing directory ${path}: ${why} (owner uid ${uid}, mode ${perm})`, {
      path,
      fields: { uid, mode: perm, expected_uid: expectedUid },
    });
    this.uid = uid;
    this.mode = mode;
  }
}

export class FileTooLargeError extends SysError {
  readonly maxBytes: number;
  constructor(path: string, maxBytes: number) {
    super('FAILED_PRECONDITION', 'FILE_TOO_LARGE', `${path} is larger than ${maxBytes} bytes`, { path, fields: { max_bytes: maxBytes } });
    this.maxBytes = maxBytes;
  }
}

export class NotRegularFileError extends SysError {
  readonly type: FileType;
  constructor(path: string, type: FileType) {
    super('FAILED_PRECONDITION', 'NOT_A_REGULAR_FILE', `${path} is not a regular file (${type})`, { path, fields: { type } });
    this.type = type;
  }
}

/** The errno name ('ELOOP') of an error from the addon or node:fs, if it has one. */
export function errnoCodeOf(err: unknown): string | undefined {
  if (err instanceof SysError) return err.errnoCode;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

type Mapping = readonly [ErrorCode, string, string];

const BY_ERRNO: Readonly<Record<string, Mapping>> = {
  ELOOP: ['FAILED_PRECONDITION', 'SYMLINK_REFUSED', 'is or passes through a symlink'],
  ENOENT: ['NOT_FOUND', 'PATH_NOT_FOUND', 'does not exist'],
  EEXIST: ['ALREADY_EXISTS', 'PATH_EXISTS', 'already exists'],
  ENOTDIR: ['FAILED_PRECONDITION', 'NOT_A_DIRECTORY', 'is not a directory'],
  EISDIR: ['FAILED_PRECONDITION', 'IS_A_DIRECTORY', 'is a directory'],
  ENOTEMPTY: ['FAILED_PRECONDITION', 'DIRECTORY_NOT_EMPTY', 'is not empty'],
  EACCES: ['PERMISSION_DENIED', 'ACCESS_DENIED', 'permission denied'],
  EPERM: ['PERMISSION_DENIED', 'ACCESS_DENIED', 'operation not permitted'],
  EROFS: ['FAILED_PRECONDITION', 'READ_ONLY_FILESYSTEM', 'is on a read-only filesystem'],
  ENOSPC: ['RESOURCE_EXHAUSTED', 'NO_SPACE', 'no space left on the filesystem'],
  EDQUOT: ['RESOURCE_EXHAUSTED', 'NO_SPACE', 'disk quota exceeded'],
  EMFILE: ['RESOURCE_EXHAUSTED', 'TOO_MANY_OPEN_FILES', 'too many open files'],
  EBUSY: ['UNAVAILABLE', 'BUSY', 'is busy (a mount point, or in use)'],
  EAGAIN: ['UNAVAILABLE', 'WOULD_BLOCK', 'is not ready (would block)'],
  ENAMETOOLONG: ['INVALID_ARGUMENT', 'NAME_TOO_LONG', 'name too long'],
  ENOSYS: ['UNIMPLEMENTED', 'UNSUPPORTED_BY_KERNEL', 'is not supported by this kernel'],
  ECONNREFUSED: ['UNAVAILABLE', 'CONNECTION_REFUSED', 'nobody is listening'],
  EPIPE: ['UNAVAILABLE', 'PEER_CLOSED', 'the peer closed the connection'],
  EMSGSIZE: ['INVALID_ARGUMENT', 'MESSAGE_TOO_LARGE', 'the message does not fit (bytes or descriptors)'],
  EINVAL: ['INVALID_ARGUMENT', 'INVALID_SYSCALL_ARGUMENT', 'invalid argument for this call'],
  ENOTSOCK: ['INVALID_ARGUMENT', 'NOT_A_SOCKET', 'not a socket'],
  EBADF: ['INTERNAL', 'BAD_DESCRIPTOR', 'not an open descriptor, or not open for this'],
};

// EXDEV means "left the directory or crossed a mount" for openat2 and "different filesystems"
// for rename and link.
const EXDEV_OPEN: Mapping = ['FAILED_PRECONDITION', 'PATH_ESCAPE', 'leaves its directory or crosses a mount point'];
const EXDEV_OTHER: Mapping = ['FAILED_PRECONDITION', 'CROSS_DEVICE', 'is on another filesystem'];
const UNKNOWN: Mapping = ['INTERNAL', 'SYSCALL_FAILED', 'failed'];

/**
 * The one place an errno becomes a banger error. `op` names what banger was doing ("open",
 * "remove tree"), `path` the path it named. Errors without an errno (bugs, TypeErrors from
 * argument checks) are returned unchanged.
 */
export function sysErrorFrom(err: unknown, op: string, path?: string): unknown {
  if (err instanceof BangerError) return err;
  const errnoCode = errnoCodeOf(err);
  if (errnoCode === undefined) return err;
  const syscall = (err as { syscall?: unknown }).syscall;
  const sc = typeof syscall === 'string' ? syscall : undefined;
  const [code, reason, text] = errnoCode === 'EXDEV' ? (sc === 'openat2' ? EXDEV_OPEN : EXDEV_OTHER) : (BY_ERRNO[errnoCode] ?? UNKNOWN);
  const subject = path === undefined ? op : `${op} ${path}`;
  return new SysError(code, reason, `${subject}: ${text} (${errnoCode})`, { path, errnoCode, syscall: sc, cause: err });
}

/** Runs one addon call, turning an errno into a SysError. */
export function mapped<T>(op: string, path: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw sysErrorFrom(err, op, path);
  }
}
