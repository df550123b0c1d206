import { constants as C } from './constants.js';
import { mapped } from './errors.js';
import { requireAddon } from './native.js';
import type { DirEntry, DirEntryRaw, Stat } from './types.js';

// Typed wrappers of the addon's calls. Each throws a SysError (errors.ts) naming `display`, the
// path as banger knows it, falling back to the name given. All descriptors opened get O_CLOEXEC.

type Name = string | Buffer;

const show = (name: Name, display?: string): string => display ?? name.toString();

/** openat2(2); on kernels without it (< 5.6) an equivalent component walk (see openBeneathFallback). */
export function openat2(dirfd: number, path: Name, flags: number, mode = 0, resolve = 0, display?: string): number {
  return mapped('open', show(path, display), () => requireAddon().openat2(dirfd, path, flags, mode, resolve));
}

/**
 * The walk openat2 falls back to, exposed so it can be tested on kernels that have openat2.
 * Requires RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (NO_MAGICLINKS is implied, NO_XDEV is checked
 * by st_dev); refuses every '..' and absolute path with EXDEV and every symlink with ELOOP.
 * Other resolve combinations answer ENOSYS.
 */
export function openBeneathFallback(dirfd: number, path: Name, flags: number, mode = 0, resolve = 0, display?: string): number {
  return mapped('open', show(path, display), () => requireAddon().openBeneathFallback(dirfd, path, flags, mode, resolve));
}

export function fstatat(dirfd: number, name: Name, flags: number, display?: string): Stat {
  return mapped('stat', show(name, display), () => requireAddon().fstatat(dirfd, name, flags));
}

/** fstat of an open descriptor (O_PATH ones too). */
export function fstat(fd: number, display?: string): Stat {
  return mapped('stat', display ?? `fd ${fd}`, () => requireAddon().fstatat(fd, '', C.AT_EMPTY_PATH));
}

export function mkdirat(dirfd: number, name: Name, mode: number, display?: string): void {
  mapped('mkdir', show(name, display), () => requireAddon().mkdirat(dirfd, name, mode));
}

export function unlinkat(dirfd: number, name: Name, flags: number, display?: string): void {
  mapped(flags & C.AT_REMOVEDIR ? 'rmdir' : 'unlink', show(name, display), () => requireAddon().unlinkat(dirfd, name, flags));
}

export function renameat2(olddirfd: number, oldName: Name, newdirfd: number, newName: Name, flags: number, display?: string): void {
  mapped('rename', show(oldName, display), () => requireAddon().renameat2(olddirfd, oldName, newdirfd, newName, flags));
}

/** fchownat(2); uid or gid -1 leaves that id unchanged. */
export function fchownat(dirfd: number, name: Name, uid: number, gid: number, flags: number, display?: string): void {
  mapped('chown', show(name, display), () => requireAddon().fchownat(dirfd, name, uid, gid, flags));
}

export function linkat(olddirfd: number, oldName: Name, newdirfd: number, newName: Name, flags: number, display?: string): void {
  mapped('link', show(newName, display), () => requireAddon().linkat(olddirfd, oldName, newdirfd, newName, flags));
}

/** Entries of an open directory without '.' and '..'; the caller's fd stays open. */
export function readdirfd(dirfd: number, display?: string): DirEntry[] {
  return mapped('list', display ?? `fd ${dirfd}`, () => requireAddon().readdirfd(dirfd, false));
}

/** readdirfd with names as bytes, for walks that must handle names that are not UTF-8. */
export function readdirfdRaw(dirfd: number, display?: string): DirEntryRaw[] {
  return mapped('list', display ?? `fd ${dirfd}`, () => requireAddon().readdirfd(dirfd, true));
}
