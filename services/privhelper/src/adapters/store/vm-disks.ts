import { constants as fsc } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, readFile, rename, rm, rmdir, statfs, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { HelperLayout } from '@banger/config';
import { FailedPreconditionError, NotFoundError, ResourceExhaustedError } from '@banger/runtime/errors';
import { DISK_SIZE_ALIGN, type DiskInfo } from '../../domain/disk/disk.js';
import { checkQcow2Header, QCOW2_HEADER_BYTES } from '../../domain/store/qcow2-header.js';
import { validateVmId } from '../../domain/vmspec/spec.js';
import { SAVED_STATE_FILES } from './saved-state.js';
import { allocatedBytesOf } from './stored-bytes.js';
import { invalid } from '../../domain/vmspec/errors.js';
import { withinBounds } from '../../domain/vmspec/bounds.js';
import { Mutex } from '../net/mutex.js';
import { pidsHoldingFile } from '../proc/pids.js';
import { run } from '@banger/proc';
import { GuestBytesTools } from './guest-bytes.js';
import { ROOTFS, WORK_SEED, type ImageStore } from './image-store.js';

const ROOT_OVERLAY = 'root.qcow2';
const WORK_DISK = 'work.ext4';
const RECORD = 'disks.json';

/** What privhelper itself recorded about a VM's disks; the only source of a disk's backing image. */
export interface DiskRecord {
  readonly schema: 1;
  readonly root?: { readonly image: string; readonly createdAt: string };
  readonly work?: { readonly image: string; readonly sizeBytes: number };
}

export interface DiskQuotas {
  /** VMs with disks on this host. */
  readonly maxVms: number;
  /** Per work disk, from the config's [vm] bounds. */
  readonly minWorkDiskBytes: number;
  readonly maxWorkDiskBytes: number;
  /** All work disks together; 0 means the free space of the filesystem holding them. */
  readonly maxWorkDiskTotalBytes: number;
}

export interface DiskTools {
  readonly qemuImg: string;
  readonly e2fsck: string;
  readonly resize2fs: string;
  /** Where e2fsck and resize2fs run: as a uid of their own, on a descriptor, never root on a path. */
  readonly guestBytes: GuestBytesTools;
}

/** The tools with the jail range's default (`[privhelper] jail_uid_base`/`jail_uid_count`). */
export function defaultDiskTools(range: { uidBase: number; uidCount: number } = { uidBase: 2_000_000_000, uidCount: 65536 }): DiskTools {
  return { qemuImg: 'qemu-img', e2fsck: 'e2fsck', resize2fs: 'resize2fs', guestBytes: new GuestBytesTools(range) };
}

/** The open files of a launch: QEMU gets these fds, never a path to open itself. */
export interface LaunchDisks {
  readonly overlay: FileHandle;
  readonly base: FileHandle;
  readonly work?: FileHandle;
  readonly baseImage: string;
  close(): Promise<void>;
}

/**
 * Per-VM disks in `<vmsDir>/<vm id>/` (root-only): a qcow2 overlay over an image's rootfs and a
 * raw ext4 work disk grown from the image's work seed. Callers name a VM and an image; every
 * path is chosen here, and the overlay's backing image is recorded in `disks.json` by the
 * store itself, so nothing a caller or a guest wrote decides which host file backs a disk.
 * Files are built under `.partial` names and renamed, so a crash never leaves a half disk.
 */
export class VmDiskStore {
  /** Serialises quota checks with what they admit (a new VM's directory, reserved bytes). */
  private readonly quotaLock = new Mutex();
  private reservedBytes = 0;
  /** Per VM: create's overlay and work disk are made side by side and share disks.json. */
  private readonly recordLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly layout: HelperLayout,
    private readonly images: ImageStore,
    private readonly quotas: DiskQuotas,
    private readonly log: Logger,
    private readonly tools: DiskTools = defaultDiskTools(),
  ) {}

  dirOf(vmId: string): string {
    return path.join(this.layout.vmsDir, validateVmId(vmId));
  }

  /** Where a VM's root overlay and work disk live (a snapshot copies them while the VM is paused). */
  diskPaths(vmId: string): { root: string; work: string } {
    const dir = this.dirOf(vmId);
    return { root: path.join(dir, ROOT_OVERLAY), work: path.join(dir, WORK_DISK) };
  }

  async record(vmId: string): Promise<DiskRecord | undefined> {
    const text = await readFile(path.join(this.dirOf(vmId), RECORD), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as DiskRecord);
  }

  async vmIds(): Promise<string[]> {
    return (await readdir(this.layout.vmsDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
  }

  /** The files in a VM's disk directory (finished, partial and the record), for ListHeld. */
  async files(vmId: string): Promise<string[]> {
    return (await readdir(this.dirOf(vmId)).catch(() => [] as string[])).sort();
  }

  async savedStateBytes(vmId: string): Promise<number> {
    return allocatedBytesOf(SAVED_STATE_FILES.map((f) => path.join(this.dirOf(vmId), f)));
  }

  /**
   * Deletes a VM's whole disk directory, whatever a crash left in it (partial files, a record
   * without disks). The path is derived from the validated id, inside this store's root.
   */
  async removeVm(vmId: string): Promise<{ removed: boolean }> {
    const dir = this.dirOf(vmId);
    return this.perVm(vmId, async () => {
      if (!(await lstat(dir).catch(() => undefined))?.isDirectory()) return { removed: false };
      await rm(dir, { recursive: true, force: true });
      this.log.info({ vm_id: vmId }, 'vm disk directory removed');
      return { removed: true };
    });
  }

  /** VMs whose disks are based on `image` (an image in use cannot be removed). */
  async vmsUsingImage(image: string): Promise<string[]> {
    const out: string[] = [];
    for (const id of await this.vmIds()) {
      const r = await this.record(id).catch(() => undefined);
      if (r?.root?.image === image || r?.work?.image === image) out.push(id);
    }
    return out;
  }

  async createOverlay(vmId: string, image: string): Promise<DiskInfo> {
    const base = await this.images.file(image, ROOTFS);
    const { dir, made } = await this.vmDir(vmId, true);
    const target = path.join(dir, ROOT_OVERLAY);
    const rec = await this.record(vmId);
    const existing = await sizeOf(target);
    if (existing !== undefined && rec?.root !== undefined) {
      if (rec.root.image !== image) {
        throw new FailedPreconditionError('OVERLAY_EXISTS', `vm ${vmId} already has a root overlay over image ${rec.root.image}`, { fields: { vm_id: vmId, image: rec.root.image } });
      }
      return { path: target, format: 'qcow2', sizeBytes: existing, created: false };
    }
    const started = Date.now();
    const tmp = `${target}.partial`;
    try {
      await rm(tmp, { force: true });
      // The header's backing name is only informative: launches pin the chain with fds.
      await run(this.tools.qemuImg, ['create', '-q', '-f', 'qcow2', '-u', '-b', base, '-F', 'raw', tmp, String(await sizeOrThrow(base))]);
      await this.updateRecord(vmId, (r) => ({ ...r, root: { image, createdAt: new Date().toISOString() } }));
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      if (made) await this.dropEmptyDir(vmId);
      throw err;
    }
    this.log.info({ vm_id: vmId, image, path: target, duration_ms: Date.now() - started }, 'root overlay created');
    return { path: target, format: 'qcow2', sizeBytes: (await sizeOf(target)) ?? 0, created: true };
  }

  /**
   * A clone's disks: copies of a snapshot's frozen root overlay (over the same image, so the
   * launch chain is the usual one) and work disk, built under `.partial` names like every disk.
   * The copies are the clone's own: a snapshot can be deleted under its clones.
   */
  async createFromFrozen(vmId: string, src: { image: string; root: string; work?: string | undefined }, copy: (from: string, to: string) => Promise<void>): Promise<{ root: string; work?: string }> {
    await this.images.file(src.image, ROOTFS);
    const { dir, made } = await this.vmDir(vmId, true);
    if ((await this.record(vmId)) !== undefined) throw new FailedPreconditionError('DISKS_EXIST', `vm ${vmId} already has disks`, { fields: { vm_id: vmId } });
    const root = path.join(dir, ROOT_OVERLAY);
    const work = path.join(dir, WORK_DISK);
    const partials = [`${root}.partial`, `${work}.partial`];
    let release = (): void => undefined;
    try {
      let workBytes = 0;
      if (src.work !== undefined) {
        workBytes = await sizeOrThrow(src.work);
        this.checkSize(workBytes);
        release = await this.reserve(workBytes);
        await copy(src.work, `${work}.partial`);
      }
      await copy(src.root, `${root}.partial`);
      const header = Buffer.alloc(QCOW2_HEADER_BYTES);
      const fh = await open(`${root}.partial`, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      await fh.read(header, 0, header.length, 0).finally(() => fh.close());
      const verdict = checkQcow2Header(header);
      if (!verdict.ok) throw new FailedPreconditionError('OVERLAY_HEADER_REFUSED', `frozen root overlay for vm ${vmId}: ${verdict.why}`, { fields: { vm_id: vmId } });
      const createdAt = new Date().toISOString();
      await this.updateRecord(vmId, () => ({ schema: 1, root: { image: src.image, createdAt }, ...(src.work !== undefined ? { work: { image: src.image, sizeBytes: workBytes } } : {}) }));
      await rename(`${root}.partial`, root);
      if (src.work !== undefined) await rename(`${work}.partial`, work);
    } catch (err) {
      for (const p of partials) await rm(p, { force: true });
      if (made) await rm(dir, { recursive: true, force: true });
      throw err;
    } finally {
      release();
    }
    this.log.info({ vm_id: vmId, image: src.image }, 'clone disks created from a snapshot');
    return { root, ...(src.work !== undefined ? { work } : {}) };
  }

  async removeOverlay(vmId: string): Promise<{ removed: boolean }> {
    const removed = await this.removeFile(vmId, ROOT_OVERLAY, (r) => ({ schema: 1, ...(r.work ? { work: r.work } : {}) }));
    return { removed };
  }

  async createWorkDisk(vmId: string, image: string, sizeBytes: number): Promise<DiskInfo> {
    this.checkSize(sizeBytes);
    const seed = await this.images.file(image, WORK_SEED);
    const seedSize = await sizeOrThrow(seed);
    const { dir, made } = await this.vmDir(vmId, true);
    const target = path.join(dir, WORK_DISK);
    const existing = await sizeOf(target);
    if (existing !== undefined) return { path: target, format: 'raw', sizeBytes: existing, created: false };
    const started = Date.now();
    const tmp = `${target}.partial`;
    let release = (): void => undefined;
    try {
      if (sizeBytes < seedSize) throw invalid('size_bytes', 'OUT_OF_RANGE', `size is smaller than the work seed (${seedSize} bytes)`);
      release = await this.reserve(sizeBytes);
      await rm(tmp, { force: true });
      await copyFile(seed, tmp, fsc.COPYFILE_FICLONE);
      // A fresh copy of an image's seed is clean: resize2fs checks that itself.
      await this.growExt4(tmp, seedSize, sizeBytes, { fsckFirst: false });
      await this.updateRecord(vmId, (r) => ({ ...r, work: { image, sizeBytes } }));
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      if (made) await this.dropEmptyDir(vmId);
      throw err;
    } finally {
      release();
    }
    this.log.info({ vm_id: vmId, image, path: target, size_bytes: sizeBytes, duration_ms: Date.now() - started }, 'work disk created');
    return { path: target, format: 'raw', sizeBytes, created: true };
  }

  async resizeWorkDisk(vmId: string, sizeBytes: number): Promise<{ previous: number; sizeBytes: number; changed: boolean }> {
    this.checkSize(sizeBytes);
    const target = path.join(this.dirOf(vmId), WORK_DISK);
    const current = await sizeOf(target);
    if (current === undefined) throw new NotFoundError('work disk of vm', vmId, 'DISK_NOT_FOUND', { fields: { vm_id: vmId } });
    if (sizeBytes < current) {
      throw new FailedPreconditionError('SHRINK_REFUSED', `work disk is ${current} bytes; shrinking is not supported`, { fields: { field: 'size_bytes' } });
    }
    if (sizeBytes === current) return { previous: current, sizeBytes, changed: false };
    const holders = await pidsHoldingFile(target);
    if (holders.length > 0) {
      throw new FailedPreconditionError('DISK_IN_USE', 'work disk is open by a running process; stop the VM first', { fields: { vm_id: vmId, pids: holders.join(',') } });
    }
    const started = Date.now();
    const release = await this.reserve(sizeBytes - current);
    try {
      await this.growExt4(target, current, sizeBytes, { fsckFirst: true });
      await this.updateRecord(vmId, (r) => (r.work ? { ...r, work: { ...r.work, sizeBytes } } : r));
    } finally {
      release();
    }
    this.log.info({ vm_id: vmId, from_bytes: current, to_bytes: sizeBytes, duration_ms: Date.now() - started }, 'work disk resized');
    return { previous: current, sizeBytes, changed: true };
  }

  async removeWorkDisk(vmId: string): Promise<{ removed: boolean }> {
    return { removed: await this.removeFile(vmId, WORK_DISK, (r) => ({ schema: 1, ...(r.root ? { root: r.root } : {}) })) };
  }

  /**
   * Opens a VM's disks for QEMU: the overlay read-write (its header checked), its recorded
   * base image's rootfs read-only, the work disk read-write. All with O_NOFOLLOW; the caller
   * passes the fds to QEMU and closes them once QEMU holds its own.
   */
  async openForLaunch(vmId: string, withWork: boolean): Promise<LaunchDisks> {
    const rec = await this.record(vmId);
    if (rec?.root === undefined) throw new FailedPreconditionError('NO_ROOT_DISK', `vm ${vmId} has no root overlay (CreateOverlay first)`, { fields: { vm_id: vmId } });
    if (withWork && rec.work === undefined) throw new FailedPreconditionError('NO_WORK_DISK', `vm ${vmId} has no work disk (CreateWorkDisk first)`, { fields: { vm_id: vmId } });
    const opened: FileHandle[] = [];
    const openOne = async (file: string, write: boolean): Promise<FileHandle> => {
      const fh = await open(file, (write ? fsc.O_RDWR : fsc.O_RDONLY) | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
      opened.push(fh);
      if (!(await fh.stat()).isFile()) throw new FailedPreconditionError('DISK_INVALID', `${path.basename(file)} of vm ${vmId} is not a regular file`, { fields: { vm_id: vmId } });
      return fh;
    };
    const close = async (): Promise<void> => {
      await Promise.all(opened.map((f) => f.close().catch(() => undefined)));
    };
    try {
      const overlay = await openOne(path.join(this.dirOf(vmId), ROOT_OVERLAY), true);
      const header = Buffer.alloc(QCOW2_HEADER_BYTES);
      await overlay.read(header, 0, header.length, 0);
      const verdict = checkQcow2Header(header);
      if (!verdict.ok) throw new FailedPreconditionError('OVERLAY_HEADER_REFUSED', `root overlay of vm ${vmId}: ${verdict.why}`, { fields: { vm_id: vmId } });
      const base = await openOne(await this.images.file(rec.root.image, ROOTFS), false);
      const work = withWork ? await openOne(path.join(this.dirOf(vmId), WORK_DISK), true) : undefined;
      return { overlay, base, ...(work ? { work } : {}), baseImage: rec.root.image, close };
    } catch (err) {
      await close();
      throw err;
    }
  }

  /**
   * Grows the file, then the ext4 inside it; on failure the file is truncated back. The
   * filesystem is what the guest wrote, so e2fsck and resize2fs see only the open file, as an
   * unprivileged uid (GuestBytesTools).
   */
  private async growExt4(file: string, from: number, to: number, opts: { fsckFirst: boolean }): Promise<void> {
    const fh = await open(file, fsc.O_RDWR | fsc.O_NOFOLLOW);
    const { guestBytes } = this.tools;
    // e2fsck exit 1 = "errors corrected", still fine to resize.
    const fsck = (): Promise<unknown> => guestBytes.run(this.tools.e2fsck, [fh], ([disk]) => ['-f', '-p', disk!], { okCodes: [0, 1] });
    const resize = (): Promise<unknown> => guestBytes.run(this.tools.resize2fs, [fh], ([disk]) => ['-p', disk!]);
    try {
      if (!(await fh.stat()).isFile()) throw new FailedPreconditionError('DISK_INVALID', `${path.basename(file)} is not a regular file`);
      if (opts.fsckFirst) await fsck();
      if (to === from) return;
      await fh.truncate(to);
      try {
        await resize().catch(async (err: unknown) => {
          // resize2fs refuses a filesystem that was not checked since its last mount.
          if (opts.fsckFirst) throw err;
          await fsck();
          await resize();
        });
      } catch (err) {
        await fh.truncate(from);
        throw err;
      }
    } finally {
      await fh.close();
    }
  }

  private checkSize(sizeBytes: number): void {
    if (!Number.isSafeInteger(sizeBytes)) throw invalid('size_bytes', 'BAD_FIELD', 'size_bytes must be an integer');
    if (sizeBytes % DISK_SIZE_ALIGN !== 0) throw invalid('size_bytes', 'BAD_FIELD', 'size_bytes must be a whole number of MiB');
    withinBounds('size_bytes', sizeBytes, this.quotas.minWorkDiskBytes, this.quotas.maxWorkDiskBytes, { min: 'vm.min_work_disk_gib', max: 'vm.max_work_disk_gib' });
  }

  /**
   * Checks `bytes` more of work disk against the quota and holds them until the returned
   * release is called, so concurrent creates and resizes cannot all pass one check: the
   * check and the reservation happen under one lock, and bytes still being written (a
   * `.partial` file the check cannot see) stay counted.
   */
  private reserve(bytes: number): Promise<() => void> {
    return this.quotaLock.run(async () => {
      await this.checkTotal(bytes + this.reservedBytes);
      this.reservedBytes += bytes;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.reservedBytes -= bytes;
      };
    });
  }

  /**
   * Room for a suspended VM's saved state of up to `bytes` (its guest RAM): it must fit in the
   * free space beside what the sparse work disks may still claim and what creates reserved, so
   * a suspend can never fill the disk the VMs' own disks grow into.
   */
  async checkStateRoom(vmId: string, bytes: number): Promise<void> {
    await this.quotaLock.run(async () => {
      let unclaimed = 0;
      for (const id of await this.vmIds()) {
        const st = await lstat(path.join(this.layout.vmsDir, id, WORK_DISK)).catch(() => undefined);
        if (st?.isFile()) unclaimed += Math.max(0, st.size - st.blocks * 512);
      }
      const free = await freeBytes(this.layout.vmsDir);
      if (unclaimed + this.reservedBytes + bytes > free) {
        throw new ResourceExhaustedError('STATE_DISK_FULL', `vm ${vmId}: its saved state needs up to ${bytes} bytes; ${free} are free and work disks may still claim ${unclaimed}`, {
          fields: { vm_id: vmId, limit: 'free space' },
        });
      }
    });
  }

  /**
   * Work disks are sparse: the total they may grow to must fit. Without a configured total,
   * the bytes every work disk could still claim, plus `extra`, must fit in the free space.
   */
  private async checkTotal(extra: number): Promise<void> {
    let promised = 0;
    let unclaimed = 0;
    for (const id of await this.vmIds()) {
      const st = await lstat(path.join(this.layout.vmsDir, id, WORK_DISK)).catch(() => undefined);
      if (!st?.isFile()) continue;
      promised += st.size;
      unclaimed += Math.max(0, st.size - st.blocks * 512);
    }
    const limit = this.quotas.maxWorkDiskTotalBytes;
    if (limit > 0 ? promised + extra > limit : unclaimed + extra > (await freeBytes(this.layout.vmsDir))) {
      throw new ResourceExhaustedError(
        'WORK_DISK_QUOTA_EXCEEDED',
        limit > 0
          ? `work disks would total ${promised + extra} bytes, over [privhelper] max_work_disk_total_gib`
          : `work disks could claim ${unclaimed + extra} bytes, more than the ${await freeBytes(this.layout.vmsDir)} bytes free where they live`,
        { fields: { field: 'size_bytes', limit: limit > 0 ? 'privhelper.max_work_disk_total_gib' : 'free space' } },
      );
    }
  }

  /**
   * The VM's disk directory; creating one for a new VM counts against [privhelper] max_vms.
   * Counting and creating happen under the quota lock, so concurrent creates for new VMs
   * cannot all see room for one more. `made`: this call created it (and removes it again if
   * the disk it was made for fails).
   */
  private async vmDir(vmId: string, create: boolean): Promise<{ dir: string; made: boolean }> {
    const dir = this.dirOf(vmId);
    const exists = async (): Promise<boolean> => (await lstat(dir).catch(() => undefined))?.isDirectory() ?? false;
    if (await exists()) return { dir, made: false };
    if (!create) throw new NotFoundError('disks of vm', vmId, 'DISK_NOT_FOUND', { fields: { vm_id: vmId } });
    return this.quotaLock.run(async () => {
      if (await exists()) return { dir, made: false };
      const count = (await this.vmIds()).length;
      if (count >= this.quotas.maxVms) {
        throw new ResourceExhaustedError('VM_QUOTA_EXCEEDED', `${count} VMs already have disks here, the [privhelper] max_vms limit`, {
          fields: { limit: 'privhelper.max_vms', max_vms: this.quotas.maxVms },
        });
      }
      await mkdir(dir, { mode: 0o700 });
      return { dir, made: true };
    });
  }

  /** Removes a VM directory this store made for a disk that then failed, if nothing else went in. */
  private async dropEmptyDir(vmId: string): Promise<void> {
    if ((await this.record(vmId)) !== undefined) return;
    await rmdir(this.dirOf(vmId)).catch(() => undefined);
  }

  /** Read-modify-write of disks.json, one at a time per VM. */
  private updateRecord(vmId: string, edit: (r: DiskRecord) => DiskRecord): Promise<void> {
    return this.perVm(vmId, async () => this.writeRecord(vmId, edit((await this.record(vmId)) ?? { schema: 1 })));
  }

  private async perVm<T>(vmId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.recordLocks.get(vmId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.recordLocks.set(vmId, tail);
    try {
      return await next;
    } finally {
      if (this.recordLocks.get(vmId) === tail) this.recordLocks.delete(vmId);
    }
  }

  private async writeRecord(vmId: string, rec: DiskRecord): Promise<void> {
    const file = path.join(this.dirOf(vmId), RECORD);
    await writeFile(`${file}.tmp`, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  private async removeFile(vmId: string, name: string, rest: (r: DiskRecord) => DiskRecord): Promise<boolean> {
    const dir = this.dirOf(vmId);
    if (!(await lstat(dir).catch(() => undefined))) return false;
    let removed = true;
    // A saved state is only valid with the disks it was saved with.
    for (const f of SAVED_STATE_FILES) await rm(path.join(dir, f), { force: true });
    await unlink(path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      removed = false;
    });
    await rm(path.join(dir, `${name}.partial`), { force: true });
    await this.perVm(vmId, async () => {
      const rec = await this.record(vmId);
      const left = rec ? rest(rec) : undefined;
      if (left && (left.root || left.work)) await this.writeRecord(vmId, left);
      else {
        await rm(path.join(dir, RECORD), { force: true });
        await rm(path.join(dir, `${RECORD}.tmp`), { force: true });
        await rmdir(dir).catch(() => undefined);
      }
    });
    if (removed) this.log.info({ vm_id: vmId, file: name }, 'disk removed');
    return removed;
  }
}

async function sizeOf(p: string): Promise<number | undefined> {
  const st = await lstat(p).catch(() => undefined);
  return st?.isFile() ? st.size : undefined;
}

async function sizeOrThrow(p: string): Promise<number> {
  const s = await sizeOf(p);
  if (s === undefined) throw new NotFoundError('file', path.basename(p), 'IMAGE_FILE_NOT_FOUND');
  return s;
}

async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}
