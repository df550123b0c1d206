import { constants as fsc } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { HelperLayout } from '@banger/config';
import { buildImage, loadRecipe, type ProgressEvent } from '@banger/imagekit';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '@banger/runtime/errors';
import { validateImageId, type KernelRef } from '../../domain/store/ids.js';
import { pidsHoldingFile } from '../proc/pids.js';
import type { GuestBytesTools } from './guest-bytes.js';
import { IMAGE_JSON, ROOTFS, WORK_SEED, type ImageStore } from './image-store.js';
import type { KernelStore } from './kernel-store.js';
import type { VmDiskStore } from './vm-disks.js';

export interface BuiltImage {
  readonly image: string;
  readonly dir: string;
  readonly manifestJson: string;
  readonly rootfsBytes: number;
  readonly unchanged: boolean;
}

export interface ImageBuilderDeps {
  layout: HelperLayout;
  images: ImageStore;
  kernels: KernelStore;
  disks: VmDiskStore;
  /** Runs qemu-img on the overlay a (possibly hostile) QEMU wrote, unprivileged, on descriptors. */
  guestBytes: GuestBytesTools;
  /** The install's images/ directory (recipes are the allow-list); imagekit's default when unset. */
  recipesRoot?: string;
  /** Is a hypervisor running this VM? (promotion needs it stopped) */
  isRunning: (vmId: string) => Promise<boolean>;
  log: Logger;
}

/**
 * Builds images into privhelper's store and promotes VM disks to images. Every input is a
 * name privhelper resolves itself: an allow-listed recipe, a kernel from its store, a VM
 * whose disks it created. Build trees live in its root-only build root and its root-only cache.
 */
export class ImageBuilder {
  /** One build per recipe at a time: concurrent builds of one recipe would race on one image directory. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ImageBuilderDeps) {}

  async build(req: { recipe: string; kernel: KernelRef }, opts: { signal: AbortSignal; onProgress: (e: ProgressEvent) => void; logger: Logger }): Promise<BuiltImage> {
    const { deps } = this;
    const recipe = await loadRecipe(req.recipe, ...(deps.recipesRoot ? [deps.recipesRoot] : []));
    const kernel = await deps.kernels.staged(req.kernel);
    while (this.running.has(recipe.name)) await this.running.get(recipe.name)?.catch(() => undefined);
    const build = buildImage({
      recipe: recipe.name,
      kernel,
      imagesRoot: deps.layout.imagesDir,
      workDir: deps.layout.buildDir,
      cacheDir: deps.layout.cacheRoot,
      signal: opts.signal,
      onProgress: opts.onProgress,
      logger: opts.logger,
      ...(deps.recipesRoot ? { imagesDir: deps.recipesRoot } : {}),
    });
    this.running.set(recipe.name, build);
    try {
      const r = await build;
      const image = path.basename(r.dir);
      await deps.images.share(image);
      return { image, dir: r.dir, manifestJson: await deps.images.manifest(image), rootfsBytes: r.manifest.rootfsBytes, unchanged: r.noop };
    } finally {
      this.running.delete(recipe.name);
    }
  }

  /**
   * A stopped VM's root overlay flattened into a new image that keeps its base's work seed.
   * Root copies the base privhelper recorded for the overlay (trusted bytes) into the new
   * image; qemu-img then commits the overlay's clusters into that copy, as an unprivileged uid
   * on the two open files (GuestBytesTools) and told the whole chain, so it opens no file the
   * overlay's header names and parses the header without root.
   */
  async promote(vmIdIn: string, imageIn: string): Promise<{ image: string; dir: string; rootfsBytes: number; baseImage: string }> {
    const { deps } = this;
    const image = validateImageId(imageIn);
    if (!image.startsWith('promoted-')) throw new InvalidArgumentError('image', 'a promoted image id must start with "promoted-"', 'BAD_IMAGE_ID');
    if (await deps.images.exists(image)) throw new AlreadyExistsError('image', image, 'IMAGE_EXISTS', { fields: { field: 'image' } });
    const rec = await deps.disks.record(vmIdIn);
    if (rec?.root === undefined) throw new FailedPreconditionError('NO_ROOT_DISK', `vm ${vmIdIn} has no root overlay`, { fields: { vm_id: vmIdIn } });
    const overlay = path.join(deps.disks.dirOf(vmIdIn), 'root.qcow2');
    if ((await deps.isRunning(vmIdIn)) || (await pidsHoldingFile(overlay)).length > 0) {
      throw new FailedPreconditionError('DISK_IN_USE', `vm ${vmIdIn} is running; stop it before promoting its disk`, { fields: { vm_id: vmIdIn } });
    }
    // Refuses a header that asks for an external data file, exactly as a launch would.
    const launchDisks = await deps.disks.openForLaunch(vmIdIn, false);
    await launchDisks.close();
    const base = await deps.images.file(rec.root.image, ROOTFS);
    const seed = await deps.images.file(rec.root.image, WORK_SEED);
    await mkdir(deps.layout.buildDir, { recursive: true, mode: 0o700 });
    const tmp = await mkdtemp(path.join(deps.layout.buildDir, `${image}-`));
    try {
      const out = path.join(tmp, ROOTFS);
      await copyFile(base, out, fsc.COPYFILE_FICLONE);
      const baseBytes = (await stat(out)).size;
      const top = await open(overlay, fsc.O_RDWR | fsc.O_NOFOLLOW);
      const flat = await open(out, fsc.O_RDWR | fsc.O_NOFOLLOW);
      try {
        await deps.guestBytes.run('qemu-img', [top, flat], ([topName, flatName]) => {
          const chain = { driver: 'qcow2', file: { driver: 'file', filename: topName }, backing: { driver: 'raw', file: { driver: 'file', filename: flatName } } };
          // -d: leave the overlay as it is (the VM keeps its disk).
          return ['commit', '-q', '-d', `json:${JSON.stringify(chain)}`];
        }, { timeoutMs: 600_000 });
        // The base decides the size; an overlay claiming another would have grown the copy.
        const got = (await flat.stat()).size;
        if (got !== baseBytes) throw new FailedPreconditionError('OVERLAY_HEADER_REFUSED', `root overlay of vm ${vmIdIn} grew the image from ${baseBytes} to ${got} bytes`, { fields: { vm_id: vmIdIn } });
      } finally {
        await top.close();
        await flat.close();
      }
      await copyFile(seed, path.join(tmp, WORK_SEED), fsc.COPYFILE_FICLONE);
      await writeFile(path.join(tmp, IMAGE_JSON), `${JSON.stringify({ schema: 1, promotedFrom: { vmId: vmIdIn, baseImage: rec.root.image }, builtAt: new Date().toISOString() }, null, 2)}\n`);
      const dir = deps.images.dirOf(image);
      await rename(tmp, dir);
      await deps.images.share(image);
      const rootfsBytes = (await stat(path.join(dir, ROOTFS))).size;
      deps.log.info({ vm_id: vmIdIn, image, base_image: rec.root.image, rootfs_bytes: rootfsBytes }, 'vm disk promoted');
      return { image, dir, rootfsBytes, baseImage: rec.root.image };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
}
