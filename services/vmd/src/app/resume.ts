import { failureEvent } from '@banger/runtime/ops';
import { assertTransition } from '../domain/vm-state.js';
import { vmToJson, type Vm } from '../domain/vm.js';
import type { OperationHandle } from '../ports/operation.js';
import { BootStages, type BootDeps } from './boot-stages.js';
import { findVm } from './find-vm.js';
import { Rollback } from './rollback.js';
import type { VmLocks } from './vm-locks.js';

export interface ResumeVmDeps extends BootDeps {
  locks: VmLocks;
}

/**
 * ResumeVm: a paused VM runs again at once (stage `resume`); a suspended one is restored from
 * its saved state with the stages of a start (network, restore, agent, services). A failed
 * restore leaves no process and the VM suspended with its state kept, so it can be retried; a
 * restored guest whose agent then never answers is killed and left stopped (its state is spent).
 */
export class ResumeVm {
  constructor(private readonly deps: ResumeVmDeps) {}

  async run(cmd: { ref: string; noWait: boolean }, op: OperationHandle): Promise<{ targetId: string; vmId: string }> {
    const { deps } = this;
    const found = await findVm(deps.vms, cmd.ref);
    const rollback = new Rollback(op, () => found.id);
    const stages = new BootStages(deps, op, 'vm_resume', rollback);
    let restoring = false;
    // Once privhelper restored the VM its saved state is gone: a later failure leaves it stopped.
    let restored = false;
    try {
      return await deps.locks.with(found.id, 'resume', async () => {
        const vm0 = await deps.vms.getById(found.id);
        const to = vm0.state === 'suspended' ? 'starting' : 'running';
        assertTransition(vm0, to);
        await op.emit({ type: 'accepted', opId: op.opId, kind: 'vm_resume', target: vm0.name, targetId: vm0.id });
        let ready: Vm;
        if (vm0.state === 'suspended') {
          restoring = true;
          let vm = await deps.vms.transition(vm0.id, 'starting');
          vm = await stages.network(vm, { owned: false });
          vm = await stages.restore(vm);
          restored = true;
          await stages.agent(vm, []);
          await stages.services(vm, { noWait: cmd.noWait });
          ready = await deps.vms.transition(vm.id, 'running', { startedAt: new Date(), stoppedAt: null });
        } else {
          await stages.run('resume', 'vCPUs run again', () => deps.host.resume(vm0.id));
          ready = await deps.vms.transition(vm0.id, 'running');
        }
        await rollback.commit();
        await op.emit({ type: 'result', result: { vm: vmToJson(ready) } });
        return { targetId: ready.id, vmId: ready.id };
      });
    } catch (err) {
      if (restoring) {
        await rollback.undo();
        await deps.vms.transition(found.id, restored ? 'stopped' : 'suspended', { pid: null }).catch(() => undefined);
      }
      const tail = await stages.consoleTail();
      await op.emit(failureEvent(err, op.opId, tail ? { consoleTail: tail } : {}));
      throw err;
    }
  }
}
