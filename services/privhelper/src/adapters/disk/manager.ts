import { constants as fsc } from 'node:fs';
import { copyFile, mkdir, rename, rm, rmdir, stat, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import { run } from '@banger/proc';
import type { Logger } from 'pino';
import type { DiskInfo, DiskLimits, DiskManager, DiskRoots } from '../../domain/disk/ports.js';
import { DEFAULT_DISK_LIMITS, DISK_SIZE_ALIGN } from '../../domain/disk/ports.js';
import { confine, confineAny } from '../../domain/vmspec/confine.js';
import { VmHostError, invalid } from '../../domain/vmspec/errors.js';
import { validateVmId } from '../../domain/vmspec/spec.js';
import { pidsHoldingFile } from '../proc/pids.js';

export interface DiskTools {
  readonly qemuImg: string;
  readonly e2fsck: string;
  readonly resize2fs: string;
}

export const DEFAULT_DISK_TOOLS: DiskTools = { qemuImg: 'qemu-img', e2fsck: 'e2fsck', resize2fs: 'resize2fs' };

const ROOT_OVERLAY = 'root.qcow2';
const ROOT_RAW = 'root.raw';
const WORK_DISK = 'work.ext4';

/**
 * Disk verbs on the host filesystem: qcow2 overlays via qemu-img, raw ext4 work disks grown
 * offline with truncate + resize2fs (simplest format to grow without a running guest).
 * Files are built under a `.partial` name and renamed, so a crash never leaves a half disk
 * under the real name and a retry starts clean.
 */
export class HostDiskManager implements DiskManager {
  constructor(
    private readonly roots: DiskRoots,
    private readonly log: Logger,
    private readonly tools: DiskTools = DEFAULT_DISK_TOOLS,
    private readonly limits: DiskLimits = DEFAULT_DISK_LIMITS,
  ) {}

  async createRootOverlay(vmId: string, basePath: string): Promise<DiskInfo> {
    const base = await this.base(basePath, 'base_path');
    const target = await this.vmFile(vmId, ROOT_OVERLAY);
    const existing = await sizeOf(target);
    if (existing !== undefined) return { path: target, format: 'qcow2', sizeBytes: existing, created: false };
    const started = Date.now();
    const tmp = `${target}.partial`;
    await rm(tmp, { force: true });
    await run(this.tools.qemuImg, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', tmp]);
    await rename(tmp, target);
    this.log.info({ vm_id: vmId, base, path: target, duration_ms: Date.now() - started }, 'root overlay created');
    return { path: target, format: 'qcow2', sizeBytes: (await sizeOf(target)) ?? 0, created: true };
  }

  async createRawRootCopy(vmId: string, basePath: string): Promise<DiskInfo> {
    const base = await this.base(basePath, 'base_path');
    const target = await this.vmFile(vmId, ROOT_RAW);
    const existing = await sizeOf(target);
    if (existing !== undefined) return { path: target, format: 'raw', sizeBytes: existing, created: false };
    const tmp = `${target}.partial`;
    await rm(tmp, { force: true });
    await copyFile(base, tmp, fsc.COPYFILE_FICLONE);
    await rename(tmp, target);
    this.log.info({ vm_id: vmId, base, path: target }, 'raw root copy created');
    return { path: target, format: 'raw', sizeBytes: (await sizeOf(target)) ?? 0, created: true };
  }

  async removeRootDisk(vmId: string): Promise<{ removed: boolean }> {
    let removed = false;
    for (const name of [ROOT_OVERLAY, ROOT_RAW]) removed = (await this.removeVmFile(vmId, name)) || removed;
    return { removed };
  }

  async createWorkDisk(vmId: string, seedPath: string, sizeBytes: number): Promise<DiskInfo> {
    this.checkSize(sizeBytes);
    const seed = await this.base(seedPath, 'seed_path');
    const target = await this.vmFile(vmId, WORK_DISK);
    const existing = await sizeOf(target);
    if (existing !== undefined) return { path: target, format: 'raw', sizeBytes: existing, created: false };
    const seedSize = (await sizeOf(seed)) ?? 0;
    if (sizeBytes < seedSize) throw invalid('size_bytes', 'OUT_OF_RANGE', `size is smaller than the work seed (${seedSize} bytes)`);
    const started = Date.now();
    const tmp = `${target}.partial`;
    await rm(tmp, { force: true });
    await copyFile(seed, tmp, fsc.COPYFILE_FICLONE);
    // A fresh copy of an image's seed is clean: resize2fs checks that itself, so e2fsck runs
    // only if it asks for it (saves a process on every create).
    await this.growExt4(tmp, seedSize, sizeBytes, { fsckFirst: false });
    await rename(tmp, target);
    this.log.info({ vm_id: vmId, seed, path: target, size_bytes: sizeBytes, duration_ms: Date.now() - started }, 'work disk created');
    return { path: target, format: 'raw', sizeBytes, created: true };
  }

  async resizeWorkDisk(vmId: string, sizeBytes: number): Promise<DiskInfo & { changed: boolean }> {
    this.checkSize(sizeBytes);
    const target = await this.vmFile(vmId, WORK_DISK);
    const current = await sizeOf(target);
    if (current === undefined) throw new VmHostError('NOT_FOUND', 'DISK_NOT_FOUND', `vm ${vmId} has no work disk`, { vm_id: vmId });
    if (sizeBytes < current) {
      throw new VmHostError('FAILED_PRECONDITION', 'SHRINK_REFUSED', `work disk is ${current} bytes; shrinking is not supported`, {
        field: 'size_bytes',
      });
    }
    if (sizeBytes === current) return { path: target, format: 'raw', sizeBytes, created: false, changed: false };
    const holders = await pidsHoldingFile(target);
    if (holders.length > 0) {
      throw new VmHostError('FAILED_PRECONDITION', 'DISK_IN_USE', 'work disk is open by a running process; stop the VM first', {
        vm_id: vmId,
        pids: holders.join(','),
      });
    }
    const started = Date.now();
    await this.growExt4(target, current, sizeBytes, { fsckFirst: true });
    this.log.info({ vm_id: vmId, from_bytes: current, to_bytes: sizeBytes, duration_ms: Date.now() - started }, 'work disk resized');
    return { path: target, format: 'raw', sizeBytes, created: false, changed: true };
  }

  async removeWorkDisk(vmId: string): Promise<{ removed: boolean }> {
    return { removed: await this.removeVmFile(vmId, WORK_DISK) };
  }

  /** Grows the file, then the ext4 inside it. If resize2fs fails the file is truncated back. */
  private async growExt4(file: string, from: number, to: number, opts: { fsckFirst: boolean }): Promise<void> {
    // e2fsck exit 1 = "errors corrected", still fine to resize.
    const fsck = (): Promise<unknown> => run(this.tools.e2fsck, ['-f', '-p', file], { okCodes: [0, 1] });
    if (opts.fsckFirst) await fsck();
    if (to === from) return;
    await truncate(file, to);
    try {
      await run(this.tools.resize2fs, ['-p', file]).catch(async (err: unknown) => {
        // resize2fs refuses a filesystem that was not checked since its last mount.
        if (opts.fsckFirst) throw err;
        await fsck();
        await run(this.tools.resize2fs, ['-p', file]);
      });
    } catch (err) {
      await truncate(file, from);
      throw err;
    }
  }

  private checkSize(sizeBytes: number): void {
    if (!Number.isSafeInteger(sizeBytes)) throw invalid('size_bytes', 'BAD_FIELD', 'size_bytes must be an integer');
    if (sizeBytes < this.limits.minWorkDiskBytes || sizeBytes > this.limits.maxWorkDiskBytes) {
      throw invalid('size_bytes', 'OUT_OF_RANGE', `size_bytes must be within ${this.limits.minWorkDiskBytes}..${this.limits.maxWorkDiskBytes}`);
    }
    if (sizeBytes % DISK_SIZE_ALIGN !== 0) throw invalid('size_bytes', 'BAD_FIELD', 'size_bytes must be a whole number of MiB');
  }

  private async base(p: string, field: string): Promise<string> {
    const abs = await confineAny(this.roots.imageDirs, p, field);
    const st = await stat(abs).catch(() => undefined);
    if (st === undefined || !st.isFile()) throw new VmHostError('NOT_FOUND', 'IMAGE_FILE_NOT_FOUND', `${field} does not exist`, { field });
    return abs;
  }

  /** Creates `<vmDisksRoot>/<vmId>/` if needed and returns the confined path of `name` in it. */
  private async vmFile(vmId: string, name: string): Promise<string> {
    validateVmId(vmId);
    await mkdir(this.roots.vmDisksRoot, { recursive: true, mode: 0o700 });
    const dir = await confine(this.roots.vmDisksRoot, vmId, 'vm_id');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return confine(this.roots.vmDisksRoot, path.join(vmId, name), 'vm_id');
  }

  private async removeVmFile(vmId: string, name: string): Promise<boolean> {
    validateVmId(vmId);
    const dir = path.join(this.roots.vmDisksRoot, vmId);
    let target: string;
    try {
      target = await confine(this.roots.vmDisksRoot, path.join(vmId, name), 'vm_id');
    } catch (err) {
      if (err instanceof VmHostError && (await sizeOf(dir)) === undefined) return false;
      throw err;
    }
    let removed = true;
    try {
      await unlink(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      removed = false;
    }
    await rm(`${target}.partial`, { force: true });
    await rmdir(dir).catch(() => undefined);
    if (removed) this.log.info({ vm_id: vmId, path: target }, 'disk removed');
    return removed;
  }
}

async function sizeOf(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).size;
  } catch {
    return undefined;
  }
}
