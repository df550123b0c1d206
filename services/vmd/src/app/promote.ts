import { FailedPreconditionError, InvalidArgumentError } from '@banger/runtime/errors';
import { validateRef } from '@banger/runtime/ids';
import { IMAGE_REF_RULE } from '../domain/refs.js';
import { requireStopped } from '../domain/vm-state.js';
import type { ImageCatalog } from '../ports/images.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

/** PromoteVm: a stopped VM's root disk becomes a new managed image, under the VM's lock so it cannot start meanwhile. */
export class PromoteVm {
  constructor(private readonly deps: { vms: VmRepository; images: Pick<ImageCatalog, 'promote'>; locks: VmLocks }) {}

  async run(cmd: { ref: string; imageName: string }): Promise<{ id: string; name: string; fingerprint: string }> {
    const { vms, images, locks } = this.deps;
    if (!cmd.imageName) throw new InvalidArgumentError('image_name', 'is required');
    const name = validateRef(cmd.imageName, 'image_name', IMAGE_REF_RULE);
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'promote', async () => {
      const vm = await vms.getById(found.id);
      requireStopped(vm, 'promoting its disk');
      if (!vm.files.rootDisk) throw new FailedPreconditionError('NO_ROOT_DISK', `vm ${vm.name} has no root disk`);
      return images.promote({ vmId: vm.id, name, baseImage: vm.spec.image.id });
    });
  }
}
