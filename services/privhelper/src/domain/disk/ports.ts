/** Where per-VM disks live and where image bases/seeds may be read from. */
export interface DiskRoots {
  /** Per-VM disks go to `<vmDisksRoot>/<vmId>/`. */
  readonly vmDisksRoot: string;
  /** Image bases and work seeds must be inside one of these. */
  readonly imageDirs: readonly string[];
}

export interface DiskLimits {
  readonly maxWorkDiskBytes: number;
  readonly minWorkDiskBytes: number;
}

export const DEFAULT_DISK_LIMITS: DiskLimits = { minWorkDiskBytes: 16 * 1024 * 1024, maxWorkDiskBytes: 2 * 1024 ** 4 };

/** Work disk sizes are whole MiB so resize2fs never has to round. */
export const DISK_SIZE_ALIGN = 1024 * 1024;

export interface DiskInfo {
  readonly path: string;
  readonly format: 'qcow2' | 'raw';
  readonly sizeBytes: number;
  /** False when the disk already existed and was returned unchanged (idempotent retry). */
  readonly created: boolean;
}

/**
 * Per-VM disks. Callers name a VM and an image file; the manager picks every path itself, so a
 * caller can never point a root-owned write at an arbitrary file. All verbs are idempotent.
 */
export interface DiskManager {
  /** Copy-on-write root for QEMU: a qcow2 overlay backed by the image's raw base. */
  createRootOverlay(vmId: string, basePath: string): Promise<DiskInfo>;
  /** Full raw copy of the base (reflink where the filesystem allows); the Firecracker seam, unused by QEMU. */
  createRawRootCopy(vmId: string, basePath: string): Promise<DiskInfo>;
  removeRootDisk(vmId: string): Promise<{ removed: boolean }>;
  /** Persistent raw ext4 work disk from the image's work seed, grown to sizeBytes. */
  createWorkDisk(vmId: string, seedPath: string, sizeBytes: number): Promise<DiskInfo>;
  /** Grow-only; the VM must be stopped (refused while a process holds the file). */
  resizeWorkDisk(vmId: string, sizeBytes: number): Promise<DiskInfo & { readonly changed: boolean }>;
  removeWorkDisk(vmId: string): Promise<{ removed: boolean }>;
}
