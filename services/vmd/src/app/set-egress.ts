import type { EgressPolicy } from '../domain/egress.js';
import type { Vm } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

/**
 * SetVmEgress: replaces a VM's egress policy. A running VM's fence is changed first, so a
 * policy privhelper refuses changes nothing; a stopped VM gets it at its next start.
 */
export class SetVmEgress {
  constructor(private readonly deps: { vms: VmRepository; host: Pick<HostHelper, 'fenceVm'>; locks: VmLocks }) {}

  async run(cmd: { ref: string; egress: EgressPolicy }): Promise<{ vm: Vm; applied: boolean }> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'egress', async () => {
      const vm = await vms.getById(found.id);
      const { ipv4, mac, tap } = vm.network;
      const live = vm.state === 'running' && tap !== null && ipv4 !== null && mac !== null;
      if (live) await host.fenceVm({ vmId: vm.id, ipv4, mac, egress: cmd.egress });
      return { vm: await vms.update(vm.id, { egress: cmd.egress }), applied: live };
    });
  }
}
