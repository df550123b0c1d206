import { FailedPreconditionError } from '@banger/runtime/errors';
import { parseSs, type GuestPort } from '../domain/ss.js';
import { requireRunning } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { GuestAgent } from '../ports/agent.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** GetVmPorts: TCP and UDP sockets listening in the guest, with owning processes, via the agent. */
export class GetVmPorts {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; agent: Pick<GuestAgent, 'exec'> }) {}

  async run(cmd: { ref: string }): Promise<{ vm: Vm; ports: GuestPort[] }> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    requireRunning(vm, 'listing its ports');
    const res = await this.deps.agent.exec(vm.files.agentSocket, ['ss', '-Hlntup'], { timeoutMs: 15_000 });
    if (res.exitCode !== 0) throw new FailedPreconditionError('GUEST_COMMAND_FAILED', `ss failed in the guest: ${res.stderr.toString().trim()}`);
    return { vm, ports: parseSs(res.stdout.toString()) };
  }
}
