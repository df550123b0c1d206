import { assertTransition } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

export interface KillVmDeps {
  vms: VmRepository;
  host: Pick<HostHelper, 'kill' | 'releaseTap'>;
  locks: VmLocks;
}

/** KillVm: ends the hypervisor at once, no graceful shutdown; the VM is then stopped. */
export class KillVm {
  constructor(private readonly deps: KillVmDeps) {}

  async run(cmd: { ref: string }): Promise<Vm> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'kill', async () => {
      assertTransition(await vms.getById(found.id), 'stopped');
      await host.kill(found.id);
      // As after a stop: a stopped VM holds no tap.
      await host.releaseTap(found.id);
      return vms.transition(found.id, 'stopped', { pid: null, stoppedAt: new Date(), network: { tap: null } });
    });
  }
}
