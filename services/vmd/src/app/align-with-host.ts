import type { Vm, VmState } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';

/** States a VM only holds while an operation on it runs. */
export const TRANSIENT: readonly VmState[] = ['creating', 'starting', 'stopping', 'deleting'];

/**
 * Makes a row say what really runs: a VM whose hypervisor is alive is running, or paused if it
 * was (VMs outlive vmd and a failed stop by design); one whose hypervisor is gone gives its tap
 * back and is suspended when its saved state is on disk, else stopped. A VM left `deleting` is
 * deleted: privhelper releases what it holds for it and the row goes. Start-up
 * reconciliation does it for every VM; the janitor for a VM left in a transient state by an
 * operation that failed half-way (a stop or delete whose privhelper died), so no row stays
 * `stopping` or `deleting` with nothing in flight. Answers the state it wrote.
 */
export async function alignWithHost(
  deps: { vms: VmRepository; host: Pick<HostHelper, 'find' | 'releaseTap' | 'savedState' | 'releaseVm'> },
  vm: Vm,
): Promise<'running' | 'paused' | 'suspended' | 'stopped' | 'deleted'> {
  if (vm.state === 'deleting') {
    // The user asked for it gone and a delete died half-way (its disks may already be): finish
    // it rather than leave a stopped VM that can no longer start.
    await deps.host.releaseVm(vm.id);
    await deps.vms.delete(vm.id);
    return 'deleted';
  }
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
    await deps.vms.transition(vm.id, 'suspended', { pid: null, stoppedAt: new Date(), network: { tap: null } });
    return 'suspended';
  }
  await deps.vms.transition(vm.id, 'stopped', { pid: null, stoppedAt: new Date(), network: { tap: null } });
  return 'stopped';
}
