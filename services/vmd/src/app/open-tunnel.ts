import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from '@banger/runtime/errors';
import { validateGuestPort } from '../domain/forward.js';
import { requireRunning } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { GuestConnector } from '../ports/guest-connect.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

const MAX_WAIT_MS = 120_000;
const RETRY_MS = 500;

/**
 * OpenTunnel: one TCP connection to a guest port of a running VM, for the caller to relay
 * (`banger vm ssh` uses it as ssh's ProxyCommand, so ssh works wherever the VMs live).
 */
export class OpenTunnel {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; connector: GuestConnector }) {}

  async run(cmd: { ref: string; port: number; opId: string; waitForListenerMs?: number; signal?: AbortSignal }): Promise<{ vm: Vm; socket: Socket; guestAddress: string }> {
    const port = validateGuestPort(cmd.port, 'open.port');
    const waitMs = cmd.waitForListenerMs ?? 0;
    if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > MAX_WAIT_MS) throw new InvalidArgumentError('open.wait_for_listener_ms', `must be 0-${MAX_WAIT_MS}, got ${waitMs}`, 'BAD_WAIT');
    const vm = await findVm(this.deps.vms, cmd.ref, 'open.ref');
    requireRunning(vm, 'opening a tunnel to it');
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const socket = await this.deps.connector.connect(vm.id, port, { opId: cmd.opId });
        return { vm, socket, guestAddress: `${vm.network.ipv4 ?? ''}:${port}` };
      } catch (err) {
        // Only "nothing listens yet" is worth waiting out (sshd starting after a --no-wait create).
        if ((err as { reason?: unknown }).reason !== 'GUEST_PORT_REFUSED' || Date.now() + RETRY_MS > deadline || cmd.signal?.aborted) throw err;
        await sleep(RETRY_MS, undefined, cmd.signal ? { signal: cmd.signal } : undefined);
      }
    }
  }
}
