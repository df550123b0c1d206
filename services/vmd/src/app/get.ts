import type { Vm } from '../domain/vm.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** GetVm: one VM by what the user typed (name, id or id prefix). */
export class GetVm {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'> }) {}

  async run(cmd: { ref: string }): Promise<Vm> {
    return findVm(this.deps.vms, cmd.ref);
  }
}
