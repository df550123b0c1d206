import { InvalidArgumentError } from '../errors.js';
import type { TarEntry } from './header.js';

/**
 * A relative archive path in normal form ("a/b"), or an error naming it: no absolute paths,
 * no "..", no empty or NUL-bearing names. "./" prefixes and trailing slashes are dropped.
 */
export function normalEntryPath(raw: string): string {
  if (raw.includes('\0')) throw escapeError(raw, 'contains a NUL byte');
  if (raw.startsWith('/')) throw escapeError(raw, 'is an absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) throw escapeError(raw, 'has an empty name');
  if (parts.includes('..')) throw escapeError(raw, "climbs out with '..'");
  return parts.join('/');
}

function escapeError(path: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError('archive', `entry ${JSON.stringify(path)} ${why}`, 'TAR_ENTRY_ESCAPES', { fields: { path } });
}

/**
 * Checks each entry of an archive that will be extracted under a fresh directory, so nothing
 * it contains can land outside: every path sits under the one top-level `root`, no entry goes
 * through a symlink the archive made earlier (the only symlinks a fresh directory can hold),
 * hard links point at regular files already extracted, and only files, directories and
 * symlinks are accepted (no devices or fifos). Symlink targets themselves may point anywhere:
 * they are created, never followed.
 */
export class TarEntryCheck {
  private readonly symlinks = new Set<string>();
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();

  constructor(private readonly root: string) {
    if (normalEntryPath(root) !== root || root.includes('/')) throw new InvalidArgumentError('name', `must be one path component, got ${JSON.stringify(root)}`, 'BAD_NAME');
  }

  /** The entry's normal path; throws INVALID_ARGUMENT (TAR_ENTRY_ESCAPES / TAR_ENTRY_UNSUPPORTED) naming it. */
  check(entry: TarEntry): string {
    const path = normalEntryPath(entry.path);
    const parts = path.split('/');
    if (parts[0] !== this.root) throw escapeError(entry.path, `is not under ${JSON.stringify(this.root)}`);
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) throw escapeError(entry.path, `goes through the symlink ${JSON.stringify(prefix)}`);
      if (this.files.has(prefix)) throw escapeError(entry.path, `goes through the file ${JSON.stringify(prefix)}`);
    }
    if (entry.kind === 'other') throw new InvalidArgumentError('archive', `entry ${JSON.stringify(entry.path)} has unsupported type ${JSON.stringify(entry.type)} (only files, directories and symlinks)`, 'TAR_ENTRY_UNSUPPORTED', { fields: { path: entry.path } });
    if (entry.kind === 'hardlink') {
      const target = normalEntryPath(entry.linkname);
      if (!this.files.has(target)) throw escapeError(entry.path, `is a hard link to ${JSON.stringify(entry.linkname)}, which is not a file earlier in the archive`);
    }
    // A later entry may replace an earlier one of another kind (tar semantics): track the last.
    this.symlinks.delete(path);
    this.files.delete(path);
    this.dirs.delete(path);
    if (entry.kind === 'symlink') this.symlinks.add(path);
    else if (entry.kind === 'dir') this.dirs.add(path);
    else this.files.add(path);
    return path;
  }

  /** The top-level entry's kind after the whole archive, or undefined when it held none. */
  rootKind(): 'dir' | 'file' | 'symlink' | undefined {
    if (this.dirs.has(this.root)) return 'dir';
    if (this.files.has(this.root)) return 'file';
    if (this.symlinks.has(this.root)) return 'symlink';
    return undefined;
  }
}
