import type { Vm } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

export interface DeleteVmDeps {
  vms: VmRepository;
  host: Pick<HostHelper, 'stop' | 'releaseTap' | 'removeRootOverlay' | 'removeWorkDisk' | 'syncDns'>;
  locks: VmLocks;
}

export interface DeleteVmCommand {
  ref: string;
  /** Grace period for the stop; 0 kills at once (DeleteVm.force). */
  stopTimeoutMs: number;
}

/**
 * DeleteVm: stops the VM if needed and removes every host resource it had, then its row and
 * DNS record. A failure half-way leaves the VM `deleting` with what is left, and a retry
 * (every step is idempotent) finishes the job. Answers the VM as it was before.
 */
export class DeleteVm {
  constructor(private readonly deps: DeleteVmDeps) {}

  async run(cmd: DeleteVmCommand): Promise<Vm> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'delete', async () => {
      const vm = await vms.getById(found.id);
      await vms.transition(vm.id, 'deleting');
      await host.stop(vm.id, cmd.stopTimeoutMs);
      await host.releaseTap(vm.id);
      if (vm.files.rootDisk) await host.removeRootOverlay({ vmId: vm.id, path: vm.files.rootDisk });
      if (vm.files.workDisk) await host.removeWorkDisk({ vmId: vm.id, path: vm.files.workDisk });
      await vms.delete(vm.id);
      await host.syncDns(await vms.dnsRecords());
      return vm;
    });
  }
}
