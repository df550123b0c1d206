import { FailedPreconditionError } from '@banger/runtime/errors';
import type { Hypervisor, VmHandle } from '../domain/hypervisor/driver.js';
import { compatOf, type SavedStateMeta } from '../domain/hypervisor/saved-state.js';
import { validateLaunchSpec, type LaunchLimits, type LaunchRequest } from '../domain/vmspec/spec.js';
import type { SavedStates } from '../ports/stores.js';
import type { LaunchVm } from './launch-vm.js';

export interface RestoreVmDeps {
  hypervisor: () => Promise<Hypervisor>;
  launch: LaunchVm;
  states: SavedStates;
  /** This host's QEMU version and accelerator (the host probe's). */
  host: () => Promise<{ accel: string; qemuVersion: string }>;
  /** The image a VM's root overlay is over, from privhelper's own disk record. */
  baseImageOf: (vmId: string) => Promise<string | undefined>;
  limits: LaunchLimits;
  runVmsDir: string;
}

const LOAD_TIMEOUT_MS = 120_000;

/**
 * RestoreHypervisor: brings a suspended VM back. The saved state is checked first (its record,
 * size and sha256, and that it was saved on this QEMU, accelerator and CPU model for this
 * memory, vCPUs, kernel, image and MAC); then QEMU starts paused (`-incoming defer`) with the
 * VM's disks and tap, loads the state from a descriptor and runs. A failed restore kills the
 * new QEMU and keeps the saved state, so nothing runs and the restore can be retried; a
 * successful one deletes the state (the VM's disks move on from it).
 */
export class RestoreVm {
  constructor(private readonly deps: RestoreVmDeps) {}

  async run(req: LaunchRequest): Promise<{ handle: VmHandle; meta: SavedStateMeta }> {
    const { deps } = this;
    const spec = validateLaunchSpec(req, deps.runVmsDir, deps.limits);
    const hv = await deps.hypervisor();
    if ((await hv.find(spec.vmId)) !== undefined) throw new FailedPreconditionError('VM_RUNNING', `vm ${spec.vmId} is running; nothing to restore`, { fields: { vm_id: spec.vmId } });
    const here = compatOf(spec, (await deps.baseImageOf(spec.vmId)) ?? '', await deps.host());
    const { fh, meta } = await deps.states.openForRestore(spec.vmId, here);
    try {
      const handle = await deps.launch.run(req, { incoming: true });
      try {
        await hv.loadState(spec.vmId, fh.fd, LOAD_TIMEOUT_MS);
      } catch (err) {
        await hv.kill(spec.vmId).catch(() => undefined);
        await hv.remove(spec.vmId).catch(() => undefined);
        throw new FailedPreconditionError('STATE_RESTORE_FAILED', `vm ${spec.vmId}: restoring its saved state failed: ${(err as Error).message}`, { fields: { vm_id: spec.vmId }, cause: err });
      }
      await deps.states.discard(spec.vmId);
      return { handle, meta };
    } finally {
      await fh.close();
    }
  }
}
