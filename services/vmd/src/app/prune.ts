import type { Vm } from '../domain/vm.js';
import type { VmRepository } from '../ports/vms.js';
import type { DeleteVm } from './delete.js';

export interface PruneVmsCommand {
  /** Only stopped VMs unused (or stopped, or created) longer ago than this; 0 is any age. */
  olderThanMs: number;
  dryRun: boolean;
}

/** PruneVms: deletes stopped VMs nobody used for a while (or says which, with dry_run). */
export class PruneVms {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'list'>; deleteVm: DeleteVm }) {}

  async run(cmd: PruneVmsCommand): Promise<Vm[]> {
    const cutoff = Date.now() - cmd.olderThanMs;
    const stale = (await this.deps.vms.list({ states: ['stopped'] })).filter((vm) => (vm.lastUsedAt ?? vm.stoppedAt ?? vm.createdAt).getTime() < cutoff);
    if (cmd.dryRun) return stale;
    const deleted: Vm[] = [];
    for (const vm of stale) deleted.push(await this.deps.deleteVm.run({ ref: vm.id, stopTimeoutMs: 0 }));
    return deleted;
  }
}
