import { FailedPreconditionError, InvalidArgumentError } from '@banger/runtime/errors';
import { requireStopped } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

/** ResizeWorkDisk: grows a stopped VM's work disk (the filesystem grows with it, offline); never shrinks. */
export class ResizeWorkDisk {
  constructor(private readonly deps: { vms: VmRepository; host: Pick<HostHelper, 'resizeWorkDisk'>; locks: VmLocks }) {}

  async run(cmd: { ref: string; sizeBytes: number }): Promise<Vm> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'resize', async () => {
      const vm = await vms.getById(found.id);
      requireStopped(vm, 'resizing its work disk');
      const current = vm.spec.workDiskBytes;
      if (cmd.sizeBytes <= current) {
        throw new InvalidArgumentError('size_bytes', `must be larger than the current ${current} bytes: work disks only grow`, 'SHRINK_REFUSED');
      }
      if (!vm.files.workDisk) throw new FailedPreconditionError('NO_WORK_DISK', `vm ${vm.name} has no work disk`);
      const size = await host.resizeWorkDisk({ vmId: vm.id, path: vm.files.workDisk }, cmd.sizeBytes);
      return vms.update(vm.id, { spec: { ...vm.spec, workDiskBytes: size } });
    });
  }
}
