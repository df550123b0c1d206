import { closeSync } from 'node:fs';
import { fchownat, fstat, openat2, readdirfdRaw, unlinkat } from './calls.js';
import { constants as C } from './constants.js';
import { errnoCodeOf, SysError } from './errors.js';
import { childPath } from './names.js';

// Recursive walks for root over trees another uid may be changing. Every step is relative to
// a directory descriptor, each directory is entered by openat2 with BENEATH|NO_SYMLINKS|NO_XDEV,
// and nothing is ever followed. Whatever an attacker swaps in (a symlink for a
// directory, a directory for a file), the walk acts on an entry of a directory it holds open,
// never on what a name points to; a mount point inside the tree stops it (PATH_ESCAPE).

/** One fd per level is held open; 256 levels is far beyond any image tree. */
const MAX_DEPTH = 256;
/** How often one entry may change type under us before we give up on it. */
const MAX_ATTEMPTS = 64;

const walkResolve = (): number => C.RESOLVE_BENEATH | C.RESOLVE_NO_SYMLINKS | C.RESOLVE_NO_MAGICLINKS | C.RESOLVE_NO_XDEV;
// NO_SYMLINKS refuses a final symlink (ELOOP); O_NOFOLLOW would make it ENOTDIR.
const dirFlags = (): number => C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC;

type Name = string | Buffer;

/** Opens `name` as a directory; says so when it is not one or no longer exists. */
function openChildDir(parentFd: number, name: Name, display: string): number | 'gone' | 'not-dir' {
  try {
    return openat2(parentFd, name, dirFlags(), 0, walkResolve(), display);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'ENOENT') return 'gone';
    if (code === 'ELOOP' || code === 'ENOTDIR') return 'not-dir';
    throw err;
  }
}

function tooDeep(display: string): SysError {
  return new SysError('FAILED_PRECONDITION', 'TREE_TOO_DEEP', `${display}: more than ${MAX_DEPTH} nested directories`, { path: display });
}

function keptChanging(op: string, display: string): SysError {
  return new SysError('ABORTED', 'TREE_CHANGING', `${op} ${display}: the entry kept changing type while being processed`, { path: display });
}

function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** Unlinks a non-directory; 'dir' if it turned out to be a directory. */
function unlinkName(parentFd: number, name: Name, display: string): 'done' | 'dir' {
  try {
    unlinkat(parentFd, name, 0, display);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'EISDIR') return 'dir';
    if (code !== 'ENOENT') throw err;
  }
  return 'done';
}

/** Removes the directory `name` once emptied; 'retry' when it gained entries or changed type. */
function rmdirName(parentFd: number, name: Name, display: string): 'done' | 'retry' {
  try {
    unlinkat(parentFd, name, C.AT_REMOVEDIR, display);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return 'retry';
    if (code !== 'ENOENT') throw err;
  }
  return 'done';
}

/** Removes `name` in `parentFd`, whatever it is, never following it. Missing is fine. */
export function removeEntry(parentFd: number, name: Name, display: string, looksLikeDir: boolean, depth = 0): void {
  let asDir = looksLikeDir;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (!asDir) {
      if (unlinkName(parentFd, name, display) === 'done') return;
      asDir = true;
      continue;
    }
    const fd = openChildDir(parentFd, name, display);
    if (fd === 'gone') return;
    if (fd === 'not-dir') {
      asDir = false;
      continue;
    }
    withFd(fd, (dirfd) => emptyDirFd(dirfd, display, depth + 1));
    if (rmdirName(parentFd, name, display) === 'done') return;
  }
  throw keptChanging('remove', display);
}

/** Removes everything inside an open directory, leaving the directory itself. */
export function emptyDirFd(dirfd: number, display: string, depth = 0): void {
  if (depth > MAX_DEPTH) throw tooDeep(display);
  for (const e of readdirfdRaw(dirfd, display)) removeEntry(dirfd, e.name, childPath(display, e.name), e.type === 'dir', depth);
}

/** An O_PATH handle on `name` itself (a symlink is opened, not followed), or 'gone'. */
function openHandle(parentFd: number, name: Name, display: string): number | 'gone' {
  try {
    return openat2(parentFd, name, C.O_PATH | C.O_NOFOLLOW | C.O_CLOEXEC, 0, walkResolve(), display);
  } catch (err) {
    if (errnoCodeOf(err) === 'ENOENT') return 'gone';
    throw err;
  }
}

/**
 * Each entry is opened as an O_PATH handle first and its type read from that handle, so the
 * inode chowned (or descended into) is the one whose type was checked, whatever the name
 * points to a moment later.
 */
function chownEntry(parentFd: number, name: Name, uid: number, gid: number, display: string, depth: number): void {
  const handle = openHandle(parentFd, name, display);
  if (handle === 'gone') return;
  withFd(handle, (h) => {
    if (fstat(h, display).type === 'dir') {
      withFd(openat2(h, '.', dirFlags(), 0, walkResolve(), display), (dirfd) => chownTreeFd(dirfd, uid, gid, display, depth + 1));
    } else {
      fchownat(h, '', uid, gid, C.AT_EMPTY_PATH, display);
    }
  });
}

/**
 * Chowns an open directory and everything under it, by descriptors only: the directory through
 * its own fd, each entry through an O_PATH handle opened without following it.
 */
export function chownTreeFd(dirfd: number, uid: number, gid: number, display: string, depth = 0): void {
  if (depth > MAX_DEPTH) throw tooDeep(display);
  fchownat(dirfd, '', uid, gid, C.AT_EMPTY_PATH, display);
  for (const e of readdirfdRaw(dirfd, display)) chownEntry(dirfd, e.name, uid, gid, childPath(display, e.name), depth);
}
