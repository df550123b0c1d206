import { SysError } from './errors.js';

/**
 * A single path component: the only thing dirfd calls that do not resolve paths (mkdirat,
 * unlinkat, renameat2, fchownat) may be given, since every '/' in a name would be resolved
 * with symlinks followed.
 */
export function assertName(name: string, op: string, parent: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new SysError('INVALID_ARGUMENT', 'INVALID_NAME', `${op}: ${JSON.stringify(name)} is not a single file name in ${parent}`, {
      path: parent,
      fields: { name },
    });
  }
}

/** A relative path for openat2: non-empty and NUL-free (openat2 itself refuses escapes). */
export function assertRelPath(relPath: string, op: string, parent: string): void {
  if (relPath === '' || relPath.includes('\0')) {
    throw new SysError('INVALID_ARGUMENT', 'INVALID_PATH', `${op}: ${JSON.stringify(relPath)} is not a relative path in ${parent}`, {
      path: parent,
      fields: { rel_path: relPath },
    });
  }
}

/** The path shown in messages for `name` inside `parent`. */
export function childPath(parent: string, name: string | Buffer): string {
  const n = name.toString();
  return parent.endsWith('/') ? `${parent}${n}` : `${parent}/${n}`;
}
