import { FailedPreconditionError } from '@banger/runtime/errors';
import { log } from '@banger/runtime/logging';
import { guestText } from '../domain/guest-values.js';
import { parseSs, type GuestPort } from '../domain/ss.js';
import { requireRunning } from '../domain/vm-state.js';
import type { Vm } from '../domain/vm.js';
import type { GuestAgent } from '../ports/agent.js';
import type { ForwardState, PortForwards } from '../ports/forwards.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';

/** Room for MAX_GUEST_PORTS lines of ss output. */
const SS_OUTPUT_BYTES = 512 * 1024;

/** GetVmPorts: TCP and UDP sockets listening in the guest, with owning processes, via the agent. */
export class GetVmPorts {
  constructor(private readonly deps: { vms: Pick<VmRepository, 'findByRef'>; agent: Pick<GuestAgent, 'exec'>; forwards?: Pick<PortForwards, 'list'> }) {}

  async run(cmd: { ref: string }): Promise<{ vm: Vm; ports: GuestPort[]; forwards: ForwardState[] }> {
    const vm = await findVm(this.deps.vms, cmd.ref);
    requireRunning(vm, 'listing its ports');
    const res = await this.deps.agent.exec(vm.files.agentSocket, ['ss', '-Hlntup'], { timeoutMs: 15_000, maxOutputBytes: SS_OUTPUT_BYTES });
    if (res.exitCode !== 0) throw new FailedPreconditionError('GUEST_COMMAND_FAILED', `ss failed in the guest: ${guestText(res.stderr)}`);
    const { ports, problems } = parseSs(res.stdout.toString('utf8'));
    if (res.stdoutTruncated) problems.push(`ss printed more than ${SS_OUTPUT_BYTES} bytes; the rest ignored`);
    if (problems.length > 0) log().warn({ vm: vm.name, problems: problems.slice(0, 20), count: problems.length }, 'guest port listing had values that were dropped or cleared');
    return { vm, ports, forwards: this.deps.forwards?.list(vm.id) ?? [] };
  }
}
