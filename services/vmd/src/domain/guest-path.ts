import { posix } from 'node:path';
import { InvalidArgumentError } from '@banger/runtime/errors';

const MAX_PATH = 4096;

/**
 * An absolute guest path in normal form (no "." or ".." left, no trailing slash, except "/"),
 * or an error naming the field. The guest's root runs the copy, so paths are normalised here,
 * where the request is checked, rather than trusted to the guest's shell.
 */
export function validateGuestPath(path: string, field: string): string {
  if (path === '') throw new InvalidArgumentError(field, 'is required: an absolute guest path', 'BAD_GUEST_PATH');
  if (path.includes('\0')) throw new InvalidArgumentError(field, 'must not contain NUL bytes', 'BAD_GUEST_PATH');
  if (!path.startsWith('/')) throw new InvalidArgumentError(field, `must be an absolute guest path, got ${JSON.stringify(path)}`, 'BAD_GUEST_PATH');
  if (Buffer.byteLength(path) > MAX_PATH) throw new InvalidArgumentError(field, `is longer than ${MAX_PATH} bytes`, 'BAD_GUEST_PATH');
  const norm = posix.normalize(path);
  return norm.length > 1 ? norm.replace(/\/+$/, '') : norm;
}

/** Whether the caller ended the path with '/', which asks for an existing directory. */
export function wantsDirectory(path: string): boolean {
  return path.length > 1 && path.endsWith('/');
}

/** A name for an archive's one top-level entry: a single path component. */
export function validateEntryName(name: string, field: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 255) {
    throw new InvalidArgumentError(field, `must be one path component (a file or directory name), got ${JSON.stringify(name)}`, 'BAD_NAME');
  }
  return name;
}

/** The base name a copy of `path` gets; the root directory has none and cannot be copied out whole. */
export function baseNameOf(path: string, field: string): string {
  if (path === '/') throw new InvalidArgumentError(field, 'cannot copy the whole root directory; name a directory under it', 'BAD_GUEST_PATH');
  return validateEntryName(posix.basename(path), field);
}
