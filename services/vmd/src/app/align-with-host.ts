import type { Vm, VmState } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';

/** States a VM only holds while an operation on it runs. */
export const TRANSIENT: readonly VmState[] = ['creating', 'starting', 'stopping', 'deleting'];

/**
 * Makes a row say what really runs: a VM whose hypervisor is alive is running (VMs outlive vmd
 * and a failed stop by design), one whose hypervisor is gone is stopped and gives its tap back. Start-up
 * reconciliation does it for every VM; the janitor for a VM left in a transient state by an
 * operation that failed half-way (a stop or delete whose privhelper died), so no row stays
 * `stopping` or `deleting` with nothing in flight. Answers the state it wrote.
 */
export async function alignWithHost(deps: { vms: VmRepository; host: Pick<HostHelper, 'find' | 'releaseTap'> }, vm: Vm): Promise<'running' | 'stopped'> {
  const proc = await deps.host.find(vm.id);
  if (proc) {
    await deps.vms.transition(vm.id, 'running', { pid: proc.pid, files: { ...vm.files, agentSocket: proc.agentSocket, consoleLog: proc.consoleLog } });
    return 'running';
  }
  // A stopped VM holds no tap (a delete or stop that died after the hypervisor did left it).
  await deps.host.releaseTap(vm.id);
  await deps.vms.transition(vm.id, 'stopped', { pid: null, stoppedAt: new Date() });
  return 'stopped';
}
