import { failureEvent } from '@banger/runtime/ops';
import { assertTransition } from '../domain/vm-state.js';
import { vmToJson } from '../domain/vm.js';
import type { HostHelper } from '../ports/host.js';
import type { OperationHandle, StageGate } from '../ports/operation.js';
import type { VmRepository } from '../ports/vms.js';
import { findVm } from './find-vm.js';
import { gatedStages } from './gated-stages.js';
import type { VmLocks } from './vm-locks.js';

export interface SuspendVmDeps {
  vms: VmRepository;
  host: Pick<HostHelper, 'suspend' | 'resume'>;
  locks: VmLocks;
  /** Consulted after the save stage (the fault matrix holds a suspend there); production: none. */
  gate?: StageGate;
}

/**
 * SuspendVm: privhelper saves the VM's state and RAM to its disk and ends the process, so the
 * VM holds no memory until `vm resume`; it survives daemon restarts and reboots. A failed save
 * leaves the VM as it was (privhelper resumes it and deletes the partial file).
 */
export class SuspendVm {
  constructor(private readonly deps: SuspendVmDeps) {}

  async run(cmd: { ref: string }, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { vms, host, locks } = this.deps;
    const found = await findVm(vms, cmd.ref);
    const stages = gatedStages(op, 'vm_suspend', this.deps.gate);
    let saving = false;
    try {
      return await locks.with(found.id, 'suspend', async () => {
        const vm = await vms.getById(found.id);
        assertTransition(vm, 'suspended');
        await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_suspend', target: vm.name, targetId: vm.id });
        saving = true;
        const state = await stages.run('save', `state and ${vm.memoryMib} MiB of RAM to disk`, () => host.suspend(vm.id));
        saving = false;
        const done = await vms.transition(vm.id, 'suspended', { pid: null, stoppedAt: new Date() });
        await op.emit({ type: 'result', result: { vm: vmToJson(done), saved_state_bytes: state.sizeBytes, save_ms: state.saveMs } });
        return { targetId: vm.id, vmId: vm.id };
      });
    } catch (err) {
      // privhelper resumes a VM whose save failed; if it went away mid-save, ask again (idempotent).
      if (saving) await host.resume(found.id).catch(() => undefined);
      await op.emit(failureEvent(err, op.opId));
      throw err;
    }
  }
}
