import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, readSync, writeSync } from 'node:fs';
import { fchownat, fstat, openat2, renameat2, unlinkat } from './calls.js';
import { constants as C } from './constants.js';
import { FileTooLargeError, mapped, NotRegularFileError } from './errors.js';
import { childPath } from './names.js';

const beneath = (): number => C.RESOLVE_BENEATH | C.RESOLVE_NO_SYMLINKS | C.RESOLVE_NO_MAGICLINKS;

export interface WriteAtomicOptions {
  /** Owner of the new file (set on the descriptor before it gets its final name). */
  owner?: { uid: number; gid: number };
  /** Fail with PATH_EXISTS instead of replacing an existing `name`. */
  noReplace?: boolean;
}

function tempName(name: string): string {
  const tag = randomBytes(6).toString('hex');
  // Stay under NAME_MAX (255) whatever the final name's length.
  return name.length > 200 ? `.tmp-${tag}` : `.${name}.${tag}.tmp`;
}

function writeAll(fd: number, data: Buffer, display: string): void {
  let off = 0;
  while (off < data.length) off += mapped('write', display, () => writeSync(fd, data, off, data.length - off));
}

function unlinkQuietly(dirfd: number, name: string): void {
  try {
    unlinkat(dirfd, name, 0);
  } catch {
    // best effort: the temp file is ours and named so nothing else uses it
  }
}

/**
 * Replaces `name` in `dirfd` with `data` so a reader sees the old file or the new one, never a
 * part: an O_EXCL temp file in the same directory, mode and owner set on its descriptor,
 * fsync, renameat2 over the name, fsync of the directory.
 */
export function writeFileAtomicAt(dirfd: number, dirPath: string, name: string, data: Buffer | string, mode: number, opts: WriteAtomicOptions = {}): void {
  const display = childPath(dirPath, name);
  const tmp = tempName(name);
  const fd = openat2(dirfd, tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode, beneath(), display);
  try {
    mapped('chmod', display, () => fchmodSync(fd, mode));
    if (opts.owner) fchownat(fd, '', opts.owner.uid, opts.owner.gid, C.AT_EMPTY_PATH, display);
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data, display);
    mapped('fsync', display, () => fsyncSync(fd));
  } catch (err) {
    closeSync(fd);
    unlinkQuietly(dirfd, tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameat2(dirfd, tmp, dirfd, name, opts.noReplace ? C.RENAME_NOREPLACE : 0, display);
  } catch (err) {
    unlinkQuietly(dirfd, tmp);
    throw err;
  }
  mapped('fsync', dirPath, () => fsyncSync(dirfd));
}

/**
 * Reads a regular file of at most `maxBytes` without ever blocking or following a link: opened
 * with O_NONBLOCK|O_NOFOLLOW under NO_SYMLINKS (so a FIFO opens at once and a symlink to
 * /dev/zero is refused), checked with fstat before any read, and read only to maxBytes + 1 (a
 * file that grows, or a /proc file that reports size 0, is still bounded).
 */
export function readFileBoundedAt(dirfd: number, dirPath: string, relPath: string, maxBytes: number): Buffer {
  const display = childPath(dirPath, relPath);
  const fd = openat2(dirfd, relPath, C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY | C.O_NOFOLLOW, 0, beneath(), display);
  try {
    const st = fstat(fd, display);
    if (st.type !== 'file') throw new NotRegularFileError(display, st.type);
    if (st.size > maxBytes) throw new FileTooLargeError(display, maxBytes);
    const limit = maxBytes + 1;
    const buf = Buffer.allocUnsafe(Math.min(limit, Math.max(st.size + 1, 65536)));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const n = mapped('read', display, () => readSync(fd, buf, 0, Math.min(buf.length, limit - total), null));
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new FileTooLargeError(display, maxBytes);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
