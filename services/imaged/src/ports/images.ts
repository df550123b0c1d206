import type { GuestService, Image, ImageKernel, ImagePaths, InitMode } from '../domain/image.js';
import type { CatalogKernel, Kernel } from '../domain/kernel.js';

/** An image row to be inserted (id chosen by the use case). */
export type NewImageRecord = Omit<Image, 'createdAt' | 'lastUsedAt'>;

/**
 * imaged's image table. Lookups by ref follow the store's rule (id, name, unique id prefix);
 * `insert` with `displace` renames the displaced image in the same transaction, so a name is
 * never briefly held by nobody or by two images.
 */
export interface ImageRepo {
  list(): Promise<Image[]>;
  findByRef(ref: string): Promise<Image>;
  findByName(name: string): Promise<Image | null>;
  findByFingerprint(fingerprint: string): Promise<Image | null>;
  insert(image: NewImageRecord, displace?: { id: string; name: string }): Promise<Image>;
  /** Stores a lazily computed work seed fingerprint (self-healing of older rows). */
  setWorkSeedFingerprint(id: string, fingerprint: string): Promise<Image>;
  touch(id: string): Promise<void>;
  delete(id: string): Promise<void>;
}

/** What a pull staged: an installed kernel before it has a row. */
export type StagedKernel = Omit<Kernel, 'id' | 'installedAt'>;

/** Kernel rows; `delete` refuses with FAILED_PRECONDITION KERNEL_IN_USE while an image uses it. */
export interface KernelRepo {
  list(): Promise<Kernel[]>;
  findByName(name: string): Promise<Kernel | null>;
  getById(id: string): Promise<Kernel>;
  /** Inserts the kernel, or points the existing row of that name at the newly staged version. */
  save(kernel: StagedKernel, id: string): Promise<Kernel>;
  delete(id: string): Promise<void>;
}

/** One directory in imaged's kernel staging dir: a staged version, or a pull's work dir. */
export interface StagedEntry {
  name: string;
  dir: string;
  /** A pull's `.pull-*` work dir, not a staged version. */
  partial: boolean;
}

/** imaged's own kernel staging dir, for the start-up sweep of the pulls a dead imaged left. */
export interface KernelStaging {
  list(): Promise<StagedEntry[]>;
  removeEntry(entry: StagedEntry): Promise<void>;
}

export interface PullProgress {
  step: string;
  done: number;
  total: number;
  detail?: string;
}

/** The checked-in catalog and the unprivileged pull (apt-get download + dpkg-deb -x) behind it. */
export interface KernelSource {
  catalog(): Promise<CatalogKernel[]>;
  /** The kernel recipes boot when nothing else is asked for (first catalog entry). */
  defaultKernel(): Promise<string>;
  pull(name: string, opts: { signal: AbortSignal; onProgress: (p: PullProgress) => void }): Promise<{ kernel: StagedKernel; alreadyPresent: boolean }>;
  /** Removes every staged version of a kernel name. */
  remove(name: string): Promise<void>;
}

export interface RecipeInfo {
  name: string;
  description: string;
  initMode: InitMode;
}

/** The allow-listed recipes under images/recipes. Unknown names are NOT_FOUND, malformed ones INVALID_ARGUMENT. */
export interface RecipeSource {
  list(): Promise<RecipeInfo[]>;
  describe(name: string): Promise<RecipeInfo>;
  /** Content address the recipe would build now against this kernel. */
  fingerprint(name: string, kernel: Pick<ImageKernel, 'name' | 'release' | 'packageVersion'>): Promise<string>;
}

export interface RootfsProgress {
  step: string;
  done: number;
  total: number;
  message: string;
}

/**
 * The root-only build (debootstrap, chroot, mkfs) behind privhelper's BuildRootfs verb.
 * Cancelling `signal` aborts it and leaves no partial image directory.
 */
export interface RootfsBuilder {
  build(
    req: { recipe: string; kernel: { name: string; packageVersion: string } },
    opts: { signal: AbortSignal; onProgress: (p: RootfsProgress) => Promise<void> },
  ): Promise<{ dir: string; image: string; built: BuiltImage }>;
}

/** privhelper's kernel store: a pulled kernel must be installed there before images and VMs use it. */
export interface KernelInstaller {
  installKernel(k: { name: string; packageVersion: string }): Promise<void>;
  removeKernel(k: { name: string; packageVersion: string }): Promise<void>;
}

/** privhelper's image store: images are root's; imaged asks for removals and promotions by id. */
export interface StoreImages {
  removeImage(image: string): Promise<boolean>;
  promoteVmDisk(vmId: string, image: string, signal?: AbortSignal): Promise<{ dir: string; rootfsBytes: number; baseImage: string }>;
}

/** What a finished build directory says about itself (image.json). */
export interface BuiltImage {
  recipe: string;
  fingerprint: string;
  kernel: Omit<ImageKernel, 'id'>;
  paths: ImagePaths;
  rootfsBytes: number;
  workSeedFingerprint: string;
  initMode: InitMode;
  inits: Record<InitMode, string>;
  kernelArgs: string[];
  services: GuestService[];
}

/** Image directories in privhelper's store (read by imaged, changed only through privhelper). */
export interface ImageFiles {
  exists(path: string): Promise<boolean>;
  remove(dir: string): Promise<void>;
  /** Fingerprint of a work seed file, read from the seed itself (its marker) when possible. */
  seedFingerprint(seedPath: string): Promise<string>;
  /**
   * Flattens a stopped VM's root overlay into the store's `promoted-<id>/rootfs.ext4`, with the
   * base image's work seed next to it; returns the new directory's paths.
   */
  promote(req: { vmId: string; id: string; signal?: AbortSignal }): Promise<{ dir: string; rootfs: string; workSeed: string; rootfsBytes: number; baseImage: string }>;
}
