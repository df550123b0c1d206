import { validateHostPort } from '../domain/forward.js';
import { findVm } from './find-vm.js';
import type { ForwardDeps } from './forward-port.js';

/** UnforwardPort: stops and forgets a manual forward; an automatic one goes with its guest listener. */
export class UnforwardPort {
  constructor(private readonly deps: ForwardDeps) {}

  async run(cmd: { ref: string; hostPort: number }): Promise<{ removed: boolean }> {
    const hostPort = validateHostPort(cmd.hostPort);
    const { vms, forwards, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'forward', async () => {
      const current = await vms.getById(found.id);
      const ports = current.spec.forwards.ports.filter((p) => p.hostPort !== hostPort);
      if (ports.length === current.spec.forwards.ports.length) return { removed: false };
      const vm = await vms.update(current.id, { spec: { ...current.spec, forwards: { ...current.spec.forwards, ports } } });
      await forwards.sync(vm);
      return { removed: true };
    });
  }
}
