import { FailedPreconditionError } from '@banger/runtime/errors';
import type { StatsSample, VmStats } from '../ports/stats.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

export interface VmStatsReport {
  current: StatsSample | undefined;
  history: StatsSample[];
  intervalMs: number;
  guestMemoryBytes: number;
}

/** GetVmStats: the hypervisor process's CPU and memory use now, with a short history. */
export class GetVmStats {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; stats: VmStats }) {}

  async run(cmd: { ref: string }): Promise<VmStatsReport> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    if (vm.state !== 'running' || !vm.pid) throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vm.name} is ${vm.state}`);
    return {
      current: await this.deps.stats.sample(vm.id, vm.pid),
      history: this.deps.stats.historyOf(vm.id),
      intervalMs: this.deps.stats.intervalMs,
      guestMemoryBytes: vm.memoryMib * 1024 * 1024,
    };
  }
}
