import { findVm } from './find-vm.js';
import type { ForwardDeps } from './forward-port.js';

/** SetAutoForward: turns automatic forwarding of one VM's guest listeners on or off (off closes them now). */
export class SetAutoForward {
  constructor(private readonly deps: ForwardDeps) {}

  async run(cmd: { ref: string; enabled: boolean }): Promise<{ enabled: boolean }> {
    const { vms, forwards, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'forward', async () => {
      const current = await vms.getById(found.id);
      const vm = await vms.update(current.id, { spec: { ...current.spec, forwards: { ...current.spec.forwards, auto: cmd.enabled } } });
      await forwards.sync(vm);
      return { enabled: vm.spec.forwards.auto };
    });
  }
}
