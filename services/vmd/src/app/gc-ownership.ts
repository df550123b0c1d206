import type { Operation, OperationResource } from '@banger/store/operations';
import type { Vm, VmState } from '../domain/vm.js';
import { INTERNAL_KINDS } from './undo-leftover.js';

/** States in which a VM uses its process, tap and DNS record. */
const LIVE: readonly VmState[] = ['starting', 'running', 'paused', 'stopping'];

/**
 * Who owns a resource a finished operation could not undo: `vm` when the VM took it over
 * (a later start gave a running VM its tap again; a VM that exists keeps its disks unless its
 * own failed create also left its row), else `nobody` and it may be removed. Never guesses in
 * the direction of deleting a live VM's data.
 */
export function leftoverOwner(r: Pick<OperationResource, 'kind'>, vm: Pick<Vm, 'state'> | undefined, opLeftItsRow: boolean): 'vm' | 'nobody' {
  // A fork's internal snapshot or a warm's template VM is its operation's alone, live or not.
  if (!vm || INTERNAL_KINDS.includes(r.kind)) return 'nobody';
  if (r.kind === 'row') return LIVE.includes(vm.state) ? 'vm' : 'nobody';
  if (r.kind === 'overlay' || r.kind === 'work_disk') return opLeftItsRow && !LIVE.includes(vm.state) ? 'nobody' : 'vm';
  return LIVE.includes(vm.state) ? 'vm' : 'nobody';
}

/** VM ids that an operation still running could own: its target and every resource it recorded. */
export function vmIdsInFlight(running: readonly Operation[]): Set<string> {
  const ids = new Set<string>();
  for (const op of running) {
    if (op.target) ids.add(op.target);
    for (const r of op.resources) {
      const id = r.detail?.['vm_id'];
      if (typeof id === 'string' && id) ids.add(id);
      if (r.kind === 'row') ids.add(r.ref);
    }
  }
  return ids;
}

/** What privhelper holds for a VM, as short words for reports (`disk dir (root.qcow2)`, `tap bt3`...). */
export function describeHeld(h: { diskDir: boolean; diskFiles: readonly string[]; runDir: boolean; tap: string; hypervisorPid: number; fenceIpv4: string; fenceTap: string }): string[] {
  const out: string[] = [];
  if (h.hypervisorPid) out.push(`hypervisor pid ${h.hypervisorPid}`);
  if (h.tap) out.push(`tap ${h.tap}`);
  out.push(...describeFence(h));
  if (h.diskDir) out.push(h.diskFiles.length ? `disk dir (${h.diskFiles.join(', ')})` : 'disk dir');
  if (h.runDir) out.push('run dir');
  return out;
}

/** A fence's nft elements, in the same words (`nft fence 10.0.0.9 on bt9`); none when it has no fence. */
export function describeFence(h: { fenceIpv4: string; fenceTap: string }): string[] {
  return h.fenceIpv4 ? [`nft fence ${h.fenceIpv4} on ${h.fenceTap}`] : [];
}
