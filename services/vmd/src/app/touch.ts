import type { Vm } from '../domain/vm.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** TouchVm: records that a user just used the VM (exec, ssh), for idle pruning later. */
export class TouchVm {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef' | 'touch'> }) {}

  async run(cmd: { ref: string }): Promise<Vm> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    return this.deps.vms.touch(vm.id);
  }
}
