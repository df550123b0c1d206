import { mapped, sysErrorFrom } from './errors.js';
import { requireAddon } from './native.js';
import type { CopyResult } from './types.js';

/**
 * Copies the whole regular file `inFd` into `outFd` (which is truncated first), keeping holes:
 * FICLONE when the filesystem can reflink, else the data extents (SEEK_DATA/SEEK_HOLE) by
 * copy_file_range or pread/pwrite, then ftruncate to the input size. Neither fd's offset moves.
 * Blocks the thread for the whole copy: prefer copyFdRangeAsync for anything large.
 */
export function copyFdRange(inFd: number, outFd: number): CopyResult {
  return mapped('copy', undefined, () => requireAddon().copyFdRange(inFd, outFd));
}

/** copyFdRange on a libuv worker thread. Keep both fds open until the promise settles. */
export async function copyFdRangeAsync(inFd: number, outFd: number): Promise<CopyResult> {
  const a = requireAddon();
  try {
    return await a.copyFdRangeAsync(inFd, outFd);
  } catch (err) {
    throw sysErrorFrom(err, 'copy');
  }
}
