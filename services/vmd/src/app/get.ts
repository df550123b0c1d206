import type { Vm } from '../domain/vm.js';
import type { HostHelper, VmJail } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** GetVm: one VM by what the user typed (name, id or id prefix), with its live jail while it runs. */
export class GetVm {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; host: Pick<HostHelper, 'find'> }) {}

  async run(cmd: { ref: string }): Promise<{ vm: Vm; jail: VmJail | undefined }> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    if (vm.state !== 'running') return { vm, jail: undefined };
    // The jail is a live fact of the host; a VM that just stopped simply has none.
    const proc = await this.deps.host.find(vm.id);
    return { vm, jail: proc?.jail };
  }
}
