import { closeSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { fchownat, fstatat, linkat, mkdirat, openat2, readdirfd, renameat2, unlinkat } from './calls.js';
import { constants as C } from './constants.js';
import { errnoCodeOf, SysError, UnsafeDirectoryError } from './errors.js';
import { FileFd, OwnedFd } from './fd.js';
import { readFileBoundedAt, writeFileAtomicAt, type WriteAtomicOptions } from './file-io.js';
import { assertName, assertRelPath, childPath } from './names.js';
import { chownTreeFd, removeEntry } from './tree.js';
import type { DirEntry, Stat } from './types.js';

/** What a directory must look like before root trusts what is inside it. */
export interface DirExpectation {
  uid?: number;
  /** No group or world write bit: only the owner (and root) can add, remove or swap entries. */
  notWritableByOthers?: boolean;
}

export interface DirOpenOptions {
  expect?: DirExpectation;
  /** Refuse a symlink in any component of the path, not only the last. */
  noSymlinks?: boolean;
  /** An O_PATH descriptor: enough to resolve and stat under it, not to list, chmod or fsync. */
  pathOnly?: boolean;
}

export interface RenameOptions {
  /** Fail with PATH_EXISTS rather than replace the target (RENAME_NOREPLACE). */
  noReplace?: boolean;
  /** Swap the two names atomically (RENAME_EXCHANGE). */
  exchange?: boolean;
}

const beneath = (): number => C.RESOLVE_BENEATH | C.RESOLVE_NO_SYMLINKS | C.RESOLVE_NO_MAGICLINKS;
// No O_NOFOLLOW: with O_DIRECTORY it turns a final symlink into ENOTDIR; NO_SYMLINKS in the
// resolve flags refuses it with ELOOP instead.
const dirFlags = (pathOnly = false): number => (pathOnly ? C.O_PATH : C.O_RDONLY) | C.O_DIRECTORY | C.O_CLOEXEC;

function check(st: Stat, path: string, expect: DirExpectation | undefined): void {
  if (expect === undefined) return;
  if (expect.uid !== undefined && st.uid !== expect.uid) throw new UnsafeDirectoryError('UNSAFE_OWNER', path, st.uid, st.mode, expect.uid);
  if (expect.notWritableByOthers === true && (st.mode & 0o022) !== 0) throw new UnsafeDirectoryError('UNSAFE_MODE', path, st.uid, st.mode, expect.uid);
}

/**
 * A directory held open by descriptor. Every method names things relative to it, resolving
 * with openat2 RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS or acting on a single name without
 * following it, so nothing another uid does inside the directory (symlinks, renames, swaps)
 * can redirect root to a file outside it. Close it (or `using`) when done.
 */
export class Dir extends OwnedFd {
  private constructor(fd: number, path: string) {
    super(fd, path);
  }

  /**
   * Opens an absolute path as a directory; the last component must not be a symlink (with
   * `noSymlinks`, none may be: SYMLINK_REFUSED). `expect` checks owner and mode on the opened
   * descriptor.
   */
  static open(absPath: string, opts: DirOpenOptions = {}): Dir {
    if (!isAbsolute(absPath)) {
      throw new SysError('INVALID_ARGUMENT', 'INVALID_PATH', `Dir.open: ${JSON.stringify(absPath)} is not an absolute path`, { path: absPath });
    }
    const path = resolve(absPath);
    if (path === '/') return Dir.adopt(openat2(C.AT_FDCWD, '/', dirFlags(opts.pathOnly), 0, 0, '/'), '/', opts.expect);
    // The last component (all of them, with noSymlinks) is resolved beneath an O_PATH parent
    // under NO_SYMLINKS, so a symlink there is SYMLINK_REFUSED on every kernel.
    const [parent, rel] = opts.noSymlinks === true ? ['/', path.slice(1)] : [dirname(path), basename(path)];
    const parentFd = openat2(C.AT_FDCWD, parent, C.O_PATH | C.O_DIRECTORY, 0, 0, parent);
    let fd: number;
    try {
      fd = openat2(parentFd, rel, dirFlags(opts.pathOnly), 0, beneath(), path);
    } finally {
      closeSync(parentFd);
    }
    return Dir.adopt(fd, path, opts.expect);
  }

  /** Wraps a directory descriptor obtained elsewhere; the Dir now owns and closes it. */
  static adopt(fd: number, path: string, expect?: DirExpectation): Dir {
    const dir = new Dir(fd, path);
    try {
      const st = dir.stat();
      if (st.type !== 'dir') throw new SysError('FAILED_PRECONDITION', 'NOT_A_DIRECTORY', `${path} is not a directory`, { path });
      check(st, path, expect);
    } catch (err) {
      dir.close();
      throw err;
    }
    return dir;
  }

  /** Opens a file under this directory (openat2 BENEATH|NO_SYMLINKS|NO_MAGICLINKS, O_CLOEXEC). */
  open(relPath: string, flags: number, mode = 0): FileFd {
    assertRelPath(relPath, 'open', this.path);
    const display = childPath(this.path, relPath);
    return new FileFd(openat2(this.fd, relPath, flags | C.O_CLOEXEC, mode, beneath(), display), display);
  }

  openDir(relPath: string, opts: { expect?: DirExpectation; pathOnly?: boolean } = {}): Dir {
    assertRelPath(relPath, 'open', this.path);
    const display = childPath(this.path, relPath);
    return Dir.adopt(openat2(this.fd, relPath, dirFlags(opts.pathOnly), 0, beneath(), display), display, opts.expect);
  }

  /** lstat of `name` (a symlink is reported as one); no name: the directory itself. */
  override stat(name?: string): Stat {
    if (name === undefined) return super.stat();
    assertName(name, 'stat', this.path);
    return fstatat(this.fd, name, C.AT_SYMLINK_NOFOLLOW, childPath(this.path, name));
  }

  /**
   * Creates directory `name` with exactly `mode` (no umask) and opens it. An existing entry is
   * PATH_EXISTS unless `existOk`, and then must be a real directory.
   */
  mkdir(name: string, mode: number, opts: { existOk?: boolean } = {}): Dir {
    assertName(name, 'mkdir', this.path);
    const display = childPath(this.path, name);
    let created = true;
    try {
      mkdirat(this.fd, name, mode, display);
    } catch (err) {
      if (errnoCodeOf(err) !== 'EEXIST' || opts.existOk !== true) throw err;
      created = false;
    }
    const dir = this.openDir(name);
    if (!created) return dir;
    try {
      // Another writer of this directory could have swapped ours for its own in between.
      if (dir.stat().uid !== process.geteuid?.()) throw new SysError('ABORTED', 'PATH_RACED', `${display} was replaced while being created`, { path: display });
      dir.setMode(mode);
    } catch (err) {
      dir.close();
      throw err;
    }
    return dir;
  }

  /**
   * Creates `name` or opens the existing real directory (a symlink is SYMLINK_REFUSED), then
   * sets owner and exact mode on its descriptor. Contents of an existing directory are not
   * checked: use it where only trusted uids can write this directory.
   */
  ensureDir(name: string, mode: number, owner?: { uid: number; gid: number }): Dir {
    assertName(name, 'mkdir', this.path);
    try {
      mkdirat(this.fd, name, mode, childPath(this.path, name));
    } catch (err) {
      if (errnoCodeOf(err) !== 'EEXIST') throw err;
    }
    const dir = this.openDir(name);
    try {
      if (owner) dir.setOwner(owner.uid, owner.gid);
      dir.setMode(mode);
    } catch (err) {
      dir.close();
      throw err;
    }
    return dir;
  }

  /** Removes a non-directory entry (a symlink itself, never its target). */
  unlink(name: string): void {
    assertName(name, 'unlink', this.path);
    unlinkat(this.fd, name, 0, childPath(this.path, name));
  }

  rmdir(name: string): void {
    assertName(name, 'rmdir', this.path);
    unlinkat(this.fd, name, C.AT_REMOVEDIR, childPath(this.path, name));
  }

  rename(name: string, toDir: Dir, toName: string, opts: RenameOptions = {}): void {
    assertName(name, 'rename', this.path);
    assertName(toName, 'rename', toDir.path);
    const flags = (opts.noReplace === true ? C.RENAME_NOREPLACE : 0) | (opts.exchange === true ? C.RENAME_EXCHANGE : 0);
    renameat2(this.fd, name, toDir.fd, toName, flags, childPath(this.path, name));
  }

  /** Gives an open file (e.g. an O_TMPFILE one) the name `name` here (linkat AT_EMPTY_PATH). */
  link(file: FileFd, name: string): void {
    assertName(name, 'link', this.path);
    linkat(file.fd, '', this.fd, name, C.AT_EMPTY_PATH, childPath(this.path, name));
  }

  /** Chowns `name` itself: a symlink is chowned, its target never (AT_SYMLINK_NOFOLLOW). */
  chown(name: string, uid: number, gid: number): void {
    assertName(name, 'chown', this.path);
    fchownat(this.fd, name, uid, gid, C.AT_SYMLINK_NOFOLLOW, childPath(this.path, name));
  }

  list(): DirEntry[] {
    return readdirfd(this.fd, this.path);
  }

  /**
   * Deletes `name` and everything under it, walking by directory descriptors and never
   * following a symlink, so another uid swapping components during the walk cannot make it
   * delete anything outside. A mount point inside refuses (PATH_ESCAPE).
   */
  removeTree(name: string, opts: { missingOk?: boolean } = {}): void {
    assertName(name, 'remove', this.path);
    const display = childPath(this.path, name);
    let st: Stat;
    try {
      st = fstatat(this.fd, name, C.AT_SYMLINK_NOFOLLOW, display);
    } catch (err) {
      if (errnoCodeOf(err) === 'ENOENT' && opts.missingOk === true) return;
      throw err;
    }
    removeEntry(this.fd, name, display, st.type === 'dir');
  }

  /**
   * Chowns this directory and everything under it without leaving it: every entry is opened as
   * an O_PATH handle without following it, and chowned (or descended into) through that handle.
   * A hard link to an outside file is the same inode, so rely on fs.protected_hardlinks=1
   * (the default) to keep another uid from planting one.
   */
  chownTree(uid: number, gid: number): void {
    chownTreeFd(this.fd, uid, gid, this.path);
  }

  writeFileAtomic(name: string, data: Buffer | string, mode: number, opts: WriteAtomicOptions = {}): void {
    assertName(name, 'write', this.path);
    writeFileAtomicAt(this.fd, this.path, name, data, mode, opts);
  }

  /** A regular file's bytes, at most maxBytes; never blocks on a FIFO or device, never follows a link. */
  readFileBounded(relPath: string, maxBytes: number): Buffer {
    assertRelPath(relPath, 'read', this.path);
    return readFileBoundedAt(this.fd, this.path, relPath, maxBytes);
  }
}
