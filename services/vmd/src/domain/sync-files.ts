import { InvalidArgumentError } from '@banger/runtime/errors';
import { baseNameOf, validateGuestPath } from './guest-path.js';

/** A host file a create writes into the guest (`[[file_sync]]`, `--sync`), its bytes sent by the client. */
export interface SyncFile {
  guestPath: string;
  mode: number;
  data: Buffer;
}

export const MAX_SYNC_FILES = 64;
export const MAX_SYNC_BYTES = 3 << 20;

/** Checks the files a create carries: absolute, distinct file paths, modes in range, bounded in number and size. */
export function validateSyncFiles(files: readonly SyncFile[]): SyncFile[] {
  if (files.length > MAX_SYNC_FILES) throw new InvalidArgumentError('sync_files', `at most ${MAX_SYNC_FILES} files, got ${files.length}`, 'TOO_MANY_SYNC_FILES');
  const total = files.reduce((n, f) => n + f.data.length, 0);
  if (total > MAX_SYNC_BYTES) throw new InvalidArgumentError('sync_files', `at most ${MAX_SYNC_BYTES} bytes together, got ${total}; copy larger trees with vm cp`, 'SYNC_FILES_TOO_LARGE');
  const seen = new Set<string>();
  return files.map((f, i) => {
    const field = `sync_files[${i}].guest_path`;
    const guestPath = validateGuestPath(f.guestPath, field);
    baseNameOf(guestPath, field);
    if (seen.has(guestPath)) throw new InvalidArgumentError(field, `${guestPath} is named twice`, 'DUPLICATE_SYNC_FILE');
    seen.add(guestPath);
    if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o7777) throw new InvalidArgumentError(`sync_files[${i}].mode`, `must be permission bits (0-07777), got ${f.mode}`, 'BAD_MODE');
    return { guestPath, mode: f.mode, data: f.data };
  });
}
