import { FailedPreconditionError, NotFoundError } from '@banger/runtime/errors';
import { log } from '@banger/runtime/logging';
import { validateImageRef, validateKernelName } from '../../domain/refs.js';
import { DEFAULT_IMAGE, type GuestService, type Image, type InitMode } from '../../domain/image.js';
import type { ImageFiles, ImageRepo, KernelInstaller, KernelRepo } from '../../ports/images.js';
import { basename, dirname } from 'node:path';

/** Everything vmd needs to boot a VM from an image; all paths absolute and checked to exist. */
export interface ResolvedImage {
  image: Image;
  rootfsPath: string;
  kernelPath: string;
  initrdPath: string;
  workSeedPath: string;
  workSeedFingerprint: string;
  fingerprint: string;
  initMode: InitMode;
  initPath: string;
  kernelArgs: string[];
  services: GuestService[];
  kernel: string;
  kernelVersion: string;
  /** The image's id in privhelper's store (what vmd names in CreateOverlay/CreateWorkDisk). */
  storeImage: string;
  /** The kernel's package version, which with `kernel` names it in privhelper's store. */
  kernelPackageVersion: string;
}

export interface ResolveImageDeps {
  images: ImageRepo;
  kernels: Pick<KernelRepo, 'findByName'>;
  files: Pick<ImageFiles, 'exists' | 'seedFingerprint'>;
  installer: Pick<KernelInstaller, 'installKernel'>;
}

/**
 * ResolveImage for vmd. '' is the default image: the one named `debian-bookworm`, else the newest
 * built from that recipe. Metadata that older rows lack is computed and stored on first use
 * (lazy self-healing) instead of failing the VM create.
 */
export class ResolveImage {
  constructor(private readonly deps: ResolveImageDeps) {}

  async resolve(ref: string, kernelOverride = ''): Promise<ResolvedImage> {
    validateImageRef(ref, 'ref', { allowEmpty: true });
    validateKernelName(kernelOverride, 'kernel', { allowEmpty: true });
    let image = ref === '' ? await this.defaultImage() : await this.deps.images.findByRef(ref);
    image = await this.heal(image);
    let kernel = { name: image.kernel.name, release: image.kernel.release, packageVersion: image.kernel.packageVersion, vmlinux: image.paths.vmlinux, initrd: image.paths.initrd };
    if (kernelOverride && kernelOverride !== image.kernel.name) {
      const k = await this.deps.kernels.findByName(kernelOverride);
      if (!k) throw new NotFoundError('kernel', kernelOverride, 'KERNEL_NOT_FOUND', { fields: { field: 'kernel' } });
      kernel = { name: k.name, release: k.release, packageVersion: k.packageVersion, vmlinux: k.vmlinux.path, initrd: k.initrd.path };
    }
    // VMs boot only kernels in privhelper's store; installing is a no-op once done, and heals
    // kernels pulled before the store existed.
    await this.deps.installer.installKernel(kernel);
    for (const [what, path] of [['rootfs', image.paths.rootfs], ['work seed', image.paths.workSeed]] as const) {
      if (!(await this.deps.files.exists(path))) {
        throw new FailedPreconditionError('IMAGE_FILES_MISSING', `image ${image.name}: ${what} ${path} is missing (rebuild or delete the image)`, {
          fields: { image: image.name, path },
        });
      }
    }
    await this.deps.images.touch(image.id).catch((err: unknown) => log().warn({ err, image_id: image.id }, 'image last-used time not recorded'));
    return {
      image,
      rootfsPath: image.paths.rootfs,
      kernelPath: kernel.vmlinux,
      initrdPath: kernel.initrd,
      workSeedPath: image.paths.workSeed,
      workSeedFingerprint: image.workSeedFingerprint ?? '',
      fingerprint: image.fingerprint,
      initMode: image.initMode,
      initPath: image.inits[image.initMode] ?? '',
      kernelArgs: image.kernelArgs,
      services: image.services,
      kernel: kernel.name,
      kernelVersion: kernel.release,
      storeImage: basename(dirname(image.paths.rootfs)),
      kernelPackageVersion: kernel.packageVersion,
    };
  }

  private async defaultImage(): Promise<Image> {
    const named = await this.deps.images.findByName(DEFAULT_IMAGE);
    if (named) return named;
    const fromRecipe = (await this.deps.images.list()).filter((i) => i.recipe === DEFAULT_IMAGE).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    if (fromRecipe[0]) return fromRecipe[0];
    throw new NotFoundError('image', DEFAULT_IMAGE, 'DEFAULT_IMAGE_NOT_BUILT', {
      fields: { hint: `build it first: banger image build ${DEFAULT_IMAGE}` },
    });
  }

  /** Fills fields added after the image was recorded; each is computed from the image's own files. */
  private async heal(image: Image): Promise<Image> {
    if (image.workSeedFingerprint) return image;
    const fingerprint = await this.deps.files.seedFingerprint(image.paths.workSeed);
    const healed = await this.deps.images.setWorkSeedFingerprint(image.id, fingerprint);
    log().info({ image: image.name, image_id: image.id, field: 'workSeedFingerprint', value: fingerprint }, 'image metadata healed');
    return healed;
  }
}
