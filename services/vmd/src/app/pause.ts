import { assertTransition } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

export interface PauseVmDeps {
  vms: VmRepository;
  host: Pick<HostHelper, 'pause'>;
  locks: VmLocks;
}

/** PauseVm: stops a running VM's vCPUs in memory; pausing a paused VM changes nothing. */
export class PauseVm {
  constructor(private readonly deps: PauseVmDeps) {}

  async run(cmd: { ref: string }): Promise<Vm> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'pause', async () => {
      const vm = await vms.getById(found.id);
      if (vm.state === 'paused') return vm;
      assertTransition(vm, 'paused');
      await host.pause(vm.id);
      return vms.transition(vm.id, 'paused');
    });
  }
}
