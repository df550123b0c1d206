import type { Vm } from '../domain/vm.js';
import type { ForwardState, PortForwards } from '../ports/forwards.js';
import type { HostHelper, VmJail } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** GetVm: one VM by what the user typed (name, id or id prefix), with its live jail and forwards while it runs. */
export class GetVm {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; host: Pick<HostHelper, 'find'>; forwards?: Pick<PortForwards, 'list'> }) {}

  async run(cmd: { ref: string }): Promise<{ vm: Vm; jail: VmJail | undefined; forwards: ForwardState[] }> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    const forwards = this.deps.forwards?.list(vm.id) ?? [];
    if (vm.state !== 'running') return { vm, jail: undefined, forwards };
    // The jail is a live fact of the host; a VM that just stopped simply has none.
    const proc = await this.deps.host.find(vm.id);
    return { vm, jail: proc?.jail, forwards };
  }
}
