import type { Vm, VmState } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';

/** States a VM only holds while an operation on it runs. */
export const TRANSIENT: readonly VmState[] = ['creating', 'starting', 'stopping', 'deleting'];

/**
 * Makes a row say what really runs: a VM whose hypervisor is alive is running, or paused if it
 * was (VMs outlive vmd and a failed stop by design); one whose hypervisor is gone gives its tap
 * back and is suspended when its saved state is on disk, else stopped. Start-up
 * reconciliation does it for every VM; the janitor for a VM left in a transient state by an
 * operation that failed half-way (a stop or delete whose privhelper died), so no row stays
 * `stopping` or `deleting` with nothing in flight. Answers the state it wrote.
 */
export async function alignWithHost(deps: { vms: VmRepository; host: Pick<HostHelper, 'find' | 'releaseTap' | 'savedState'> }, vm: Vm): Promise<'running' | 'paused' | 'suspended' | 'stopped'> {
  const proc = await deps.host.find(vm.id);
  if (proc) {
    const to = vm.state === 'paused' ? 'paused' : 'running';
    await deps.vms.transition(vm.id, to, { pid: proc.pid, files: { ...vm.files, agentSocket: proc.agentSocket, consoleLog: proc.consoleLog } });
    return to;
  }
  // A stopped or suspended VM holds no tap (its resume or start takes one again).
  await deps.host.releaseTap(vm.id);
  if (['running', 'paused', 'starting'].includes(vm.state) && (await deps.host.savedState(vm.id).catch(() => undefined))) {
    // A suspend that finished while vmd was down (or a restore that failed): the state is on disk.
    await deps.vms.transition(vm.id, 'suspended', { pid: null, stoppedAt: new Date() });
    return 'suspended';
  }
  await deps.vms.transition(vm.id, 'stopped', { pid: null, stoppedAt: new Date() });
  return 'stopped';
}
