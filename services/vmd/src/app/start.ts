import { FailedPreconditionError } from '@banger/runtime/errors';
import { failureEvent } from '@banger/runtime/ops';
import { assertTransition } from '../domain/vm-state.js';
import { vmToJson } from '../domain/vm.js';
import type { OperationHandle } from '../ports/operation.js';
import { BootStages, type BootDeps } from './boot-stages.js';
import { findVm } from './find-vm.js';
import { Rollback } from './rollback.js';
import type { VmLocks } from './vm-locks.js';

export interface StartVmDeps extends BootDeps {
  locks: VmLocks;
}

export interface StartVmCommand {
  ref: string;
  noWait: boolean;
}

/**
 * StartVm: boots a stopped VM with the stages of a create from network on, from the boot
 * files and disks recorded at create. A failure puts the VM back to rest (no process,
 * stopped); a refused start (already running, busy) changes nothing.
 */
export class StartVm {
  constructor(private readonly deps: StartVmDeps) {}

  async run(cmd: StartVmCommand, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { deps } = this;
    const found = await findVm(deps.vms, cmd.ref);
    const rollback = new Rollback(op, () => found.id);
    const stages = new BootStages(deps, op, 'vm_start', rollback);
    let starting = false;
    try {
      return await deps.locks.with(found.id, 'start', async () => {
        const vm0 = await deps.vms.getById(found.id);
        if (vm0.state === 'running') throw new FailedPreconditionError('VM_ALREADY_RUNNING', `vm ${vm0.name} is already running`);
        if (vm0.state === 'suspended') throw new FailedPreconditionError('VM_SUSPENDED', `vm ${vm0.name} is suspended: resume it (banger vm resume ${vm0.name})`, { fields: { vm: vm0.name } });
        assertTransition(vm0, 'starting');
        await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_start', target: vm0.name, targetId: vm0.id });
        starting = true;
        let vm = await deps.vms.transition(vm0.id, 'starting');
        vm = await stages.network(vm, { owned: false });
        vm = await stages.boot(vm);
        await stages.agent(vm, []);
        await stages.services(vm, { noWait: cmd.noWait });
        const ready = await deps.vms.transition(vm.id, 'running', { startedAt: new Date(), stoppedAt: null });
        await rollback.commit();
        await op.emit({ type: 'result', result: { vm: vmToJson(ready) } });
        return { targetId: vm.id, vmId: vm.id };
      });
    } catch (err) {
      if (starting) {
        await rollback.undo();
        await deps.vms.transition(found.id, 'stopped', { pid: null }).catch(() => undefined);
      }
      const tail = await stages.consoleTail();
      await op.emit(failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}));
      throw err;
    }
  }
}
