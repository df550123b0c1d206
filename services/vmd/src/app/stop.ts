import { log } from '@banger/runtime/logging';
import { assertTransition } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

export interface StopVmDeps {
  vms: VmRepository;
  host: Pick<HostHelper, 'stop' | 'releaseTap'>;
  locks: VmLocks;
}

export interface StopVmCommand {
  ref: string;
  /** Grace period for a clean shutdown before the hypervisor is killed; 0 kills at once. */
  timeoutMs: number;
}

/**
 * StopVm: a graceful stop (ctrl-alt-del), killed after the grace period, then its tap given back. `forced` says whether
 * it came to that. A stopped VM is left alone; a failed stop leaves the VM `stopping`, so a
 * retry finishes it.
 */
export class StopVm {
  constructor(private readonly deps: StopVmDeps) {}

  async run(cmd: StopVmCommand): Promise<{ vm: Vm; forced: boolean }> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'stop', async () => {
      const vm = await vms.getById(found.id);
      if (vm.state === 'stopped') return { vm, forced: false };
      assertTransition(vm, 'stopping');
      await vms.transition(vm.id, 'stopping');
      const res = await host.stop(vm.id, cmd.timeoutMs);
      // A stopped VM holds no tap (and so no fence): its next start takes one from the pool.
      await host.releaseTap(vm.id);
      log().info({ vm_id: vm.id, forced: res.forced, was_running: res.wasRunning }, 'vm stopped');
      return { vm: await vms.transition(vm.id, 'stopped', { pid: null, stoppedAt: new Date(), network: { tap: null } }), forced: res.forced };
    });
  }
}
