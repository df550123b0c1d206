import { validateGuestPort, validateHostAddress, validateHostPort, withForward } from '../domain/forward.js';
import type { Vm } from '../domain/vm.js';
import type { ForwardState, PortForwards } from '../ports/forwards.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import type { VmLocks } from './vm-locks.js';

export interface ForwardDeps {
  vms: VmRepository;
  forwards: PortForwards;
  locks: VmLocks;
}

/**
 * ForwardPort: relays a host loopback port to a guest port. The forward is kept with the VM
 * (it comes back with the VM and with vmd); it listens at once when the VM runs. A host port
 * already used by another program is reported on the forward, not refused, so the forward
 * starts once the port is free.
 */
export class ForwardPort {
  constructor(private readonly deps: ForwardDeps) {}

  async run(cmd: { ref: string; guestPort: number; hostPort: number; hostAddress: string }): Promise<{ vm: Vm; forward: ForwardState }> {
    const guestPort = validateGuestPort(cmd.guestPort);
    const hostPort = validateHostPort(cmd.hostPort === 0 ? guestPort : cmd.hostPort, cmd.hostPort === 0 ? 'guest_port' : 'host_port');
    const hostAddress = validateHostAddress(cmd.hostAddress);
    const { vms, forwards, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    return locks.with(found.id, 'forward', async () => {
      const current = await vms.getById(found.id);
      const vm = await vms.update(current.id, { spec: { ...current.spec, forwards: withForward(current.spec.forwards, { guestPort, hostPort }) } });
      const state = (await forwards.sync(vm)).find((f) => f.hostPort === hostPort);
      return { vm, forward: state ?? { guestPort, hostAddress, hostPort, auto: false, connections: 0, problem: `vm ${vm.name} is ${vm.state}; the forward starts with it` } };
    });
  }
}
