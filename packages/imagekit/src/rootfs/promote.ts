import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { ImageKitError } from '../errors.js';
import { isProcError, run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';

/**
 * Flattens a stopped VM's root overlay (qcow2 on its base image) into a standalone raw ext4
 * that can become a new managed image. A running VM holds the qcow2 write lock, so this fails
 * with DISK_IN_USE instead of copying a disk that is changing.
 */
export async function promoteRootfs(opts: { overlay: string; outPath: string; format?: 'qcow2' | 'raw'; signal?: AbortSignal }): Promise<{ path: string; sizeBytes: number }> {
  const partial = `${opts.outPath}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await run('qemu-img', ['convert', '-f', opts.format ?? 'qcow2', '-O', 'raw', opts.overlay, partial], toolOptions(opts.signal));
    await rename(partial, opts.outPath);
    return { path: opts.outPath, sizeBytes: (await stat(opts.outPath)).size };
  } catch (e) {
    await rm(partial, { force: true });
    if (isProcError(e, 'TOOL_FAILED') && /lock/i.test(e.stderr)) {
      throw new ImageKitError('FAILED_PRECONDITION', 'DISK_IN_USE', `${opts.overlay} is in use (is the VM stopped?)`, {
        path: opts.overlay,
      }, { cause: e });
    }
    throw e;
  }
}
