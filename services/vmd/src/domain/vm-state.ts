import { AbortedError, FailedPreconditionError } from '@banger/runtime/errors';
import type { Vm, VmState } from './vm.js';

/**
 * The VM state machine: every state a VM may move to from each state, in one place. The store
 * applies it on every state write (a row that is no longer in an allowed state refuses the
 * write), so two processes cannot race a VM into a state it cannot reach. A VM may always be
 * written again in its own state (a retried stop, a second kill).
 *
 * creating → running (create done; a failed create deletes the row)
 * stopped/error → starting → running, or back to stopped when the start fails
 * running → stopping → stopped; running → stopped (kill, or its hypervisor vanished)
 * running ⇄ paused (vCPUs stopped in memory; a paused VM may also be stopped, killed, suspended)
 * running/paused → suspended (state and RAM on disk, no process) → starting → running (resume),
 * or back to suspended when the restore fails (the saved state is kept)
 * any → deleting (its row then goes); reconciliation may find a creating, stopping or
 * deleting VM running or gone after a crash, and records what it found.
 */
export const TRANSITIONS: Readonly<Record<VmState, readonly VmState[]>> = {
  creating: ['running', 'stopped', 'deleting'],
  starting: ['running', 'stopped', 'suspended', 'deleting'],
  running: ['stopping', 'stopped', 'paused', 'suspended', 'deleting'],
  paused: ['running', 'stopping', 'stopped', 'suspended', 'deleting'],
  suspended: ['starting', 'stopped', 'deleting'],
  stopping: ['stopped', 'running', 'deleting'],
  stopped: ['starting', 'deleting'],
  deleting: ['running', 'stopped'],
  error: ['starting', 'stopped', 'deleting'],
};

export function canTransition(from: VmState, to: VmState): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

/** The states a VM may be in to be moved to `to`: the guard of the store write. */
export function statesAllowedInto(to: VmState): VmState[] {
  return (Object.keys(TRANSITIONS) as VmState[]).filter((from) => canTransition(from, to));
}

/** Refuses a transition the machine does not allow, before anything is done. */
export function assertTransition(vm: Pick<Vm, 'name' | 'state'>, to: VmState): void {
  if (!canTransition(vm.state, to)) {
    throw new FailedPreconditionError('VM_STATE_INVALID', `vm ${vm.name} is ${vm.state} and cannot become ${to}`, { fields: { vm: vm.name, state: vm.state, to } });
  }
}

export function requireRunning(vm: Pick<Vm, 'name' | 'state'>, what: string): void {
  if (vm.state !== 'running') {
    throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vm.name} is ${vm.state}; start it before ${what}`, { fields: { vm: vm.name, state: vm.state } });
  }
}

export function requireStopped(vm: Pick<Vm, 'name' | 'state'>, what: string): void {
  if (vm.state !== 'stopped') {
    throw new FailedPreconditionError('VM_NOT_STOPPED', `vm ${vm.name} is ${vm.state}; stop it before ${what}`, { fields: { vm: vm.name, state: vm.state } });
  }
}

/** A second lifecycle call on a VM that is busy fails fast, naming what holds it. */
export function vmBusy(vmId: string, holder: string): AbortedError {
  return new AbortedError('VM_BUSY', `vm is busy with ${holder}; try again when it finishes`, { fields: { vm_id: vmId, busy_with: holder } });
}
