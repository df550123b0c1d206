import type { Socket } from 'node:net';
import { validateGuestPort } from '../domain/forward.js';
import { requireRunning } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { GuestConnector } from '../ports/guest-connect.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/**
 * OpenTunnel: one TCP connection to a guest port of a running VM, for the caller to relay
 * (`banger vm ssh` uses it as ssh's ProxyCommand, so ssh works wherever the VMs live).
 */
export class OpenTunnel {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; connector: GuestConnector }) {}

  async run(cmd: { ref: string; port: number; opId: string }): Promise<{ vm: Vm; socket: Socket; guestAddress: string }> {
    const port = validateGuestPort(cmd.port, 'open.port');
    const vm = await findVm(this.deps.vms, cmd.ref, 'open.ref');
    requireRunning(vm, 'opening a tunnel to it');
    const socket = await this.deps.connector.connect(vm.id, port, { opId: cmd.opId });
    return { vm, socket, guestAddress: `${vm.network.ipv4 ?? ''}:${port}` };
  }
}
