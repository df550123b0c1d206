import { createHash, randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '@banger/runtime/errors';
import { validateVmId } from '@banger/runtime/ids';
import { isValidImageName, type Image } from '../../domain/image.js';
import { validateImageRef } from '../../domain/refs.js';
import type { ImageFiles, ImageRepo } from '../../ports/images.js';

export interface PromoteImageCommand {
  vmId: string;
  rootDiskPath: string;
  name: string;
  baseImage: string;
}

export interface PromoteImageDeps {
  images: ImageRepo;
  files: Pick<ImageFiles, 'promote' | 'remove'>;
}

/**
 * Turns a stopped VM's root disk (its overlay over the base image) into a standalone managed
 * image that inherits the base image's kernel, init mode, services and work seed. The VM must be
 * stopped (a running QEMU holds the overlay's lock: FAILED_PRECONDITION DISK_IN_USE); vmd checks
 * that before calling. Promoted images have no recipe, so their fingerprint is an identity, not
 * a content address.
 */
export class PromoteImage {
  constructor(private readonly deps: PromoteImageDeps) {}

  async run(cmd: PromoteImageCommand, signal?: AbortSignal): Promise<Image> {
    if (!isValidImageName(cmd.name)) throw new InvalidArgumentError('name', `invalid image name ${JSON.stringify(cmd.name)}`, 'INVALID_IMAGE_NAME');
    if (cmd.vmId === '') throw new InvalidArgumentError('vm_id', 'is required', 'VM_ID_REQUIRED');
    validateVmId(cmd.vmId);
    validateImageRef(cmd.baseImage, 'base_image');
    if (cmd.rootDiskPath !== '') {
      throw new InvalidArgumentError('root_disk_path', 'is no longer accepted: privhelper finds a VM\'s root disk from vm_id; leave it empty', 'FIELD_NOT_ACCEPTED');
    }
    if (await this.deps.images.findByName(cmd.name)) throw new AlreadyExistsError('image', cmd.name, 'IMAGE_NAME_TAKEN', { fields: { field: 'name' } });
    const base = await this.deps.images.findByRef(cmd.baseImage);
    const id = randomUUID();
    const out = await this.deps.files.promote({ vmId: cmd.vmId, id, ...(signal ? { signal } : {}) });
    try {
      // privhelper knows which image the VM's disk is really based on; the caller's word is a check.
      if (out.baseImage !== basename(base.paths.dir)) {
        throw new FailedPreconditionError('BASE_IMAGE_MISMATCH', `vm ${cmd.vmId}'s disk is based on ${out.baseImage}, not on image ${base.name}`, {
          fields: { field: 'base_image', base_image: out.baseImage },
        });
      }
      return await this.deps.images.insert({
        id,
        name: cmd.name,
        recipe: null,
        fingerprint: createHash('sha256').update(`promoted\n${cmd.vmId}\n${id}`).digest('hex'),
        initMode: base.initMode,
        inits: base.inits,
        kernelArgs: base.kernelArgs,
        kernel: base.kernel,
        paths: { ...base.paths, dir: out.dir, rootfs: out.rootfs, workSeed: out.workSeed },
        rootfsBytes: out.rootfsBytes,
        workSeedFingerprint: base.workSeedFingerprint,
        services: base.services,
        sourceVmId: cmd.vmId,
      });
    } catch (err) {
      await this.deps.files.remove(out.dir);
      throw err;
    }
  }
}
