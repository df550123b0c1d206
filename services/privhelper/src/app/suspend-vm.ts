import { FailedPreconditionError } from '@banger/runtime/errors';
import type { Hypervisor } from '../domain/hypervisor/driver.js';
import { compatOf, type SavedStateMeta } from '../domain/hypervisor/saved-state.js';
import { validateVmId } from '../domain/vmspec/spec.js';
import type { SavedStates } from '../ports/stores.js';

export interface SuspendVmDeps {
  hypervisor: () => Promise<Hypervisor>;
  states: SavedStates;
  /** Refuses (RESOURCE_EXHAUSTED) when a state of `bytes` would not fit beside the VMs' disks. */
  checkRoom: (vmId: string, bytes: number) => Promise<void>;
  /** This host's QEMU version and accelerator (the host probe's). */
  host: () => Promise<{ accel: string; qemuVersion: string }>;
}

/** How long a full-RAM save may take (a 1 GiB guest saves in ~4 s under TCG, HOST-FACTS). */
export const SAVE_TIMEOUT_MS = 120_000;

/**
 * SuspendHypervisor: pauses a running VM, streams its device state and RAM through a
 * descriptor into a root-owned file in the VM's disk directory (on disk, so it survives a
 * reboot), records what it can be restored on, and ends QEMU so its memory is freed. A failed
 * save deletes the partial file and leaves the VM running as it was.
 */
export class SuspendVm {
  constructor(private readonly deps: SuspendVmDeps) {}

  async run(vmId: string): Promise<SavedStateMeta> {
    validateVmId(vmId);
    const hv = await this.deps.hypervisor();
    const launched = await hv.launched(vmId);
    if (launched === undefined) throw new FailedPreconditionError('VM_NOT_RUNNING', `vm ${vmId} is not running`, { fields: { vm_id: vmId } });
    const compat = compatOf(launched.spec, launched.baseImage, { accel: launched.accel, qemuVersion: (await this.deps.host()).qemuVersion });
    // A full-RAM stream is at most the guest's RAM plus a little device state.
    await this.deps.checkRoom(vmId, (launched.spec.memoryMib + 16) * 1024 * 1024);
    const started = Date.now();
    const fh = await this.deps.states.openForSave(vmId);
    try {
      await hv.saveAndQuit(vmId, fh.fd, SAVE_TIMEOUT_MS);
      return await this.deps.states.commit(vmId, fh, compat, Date.now() - started);
    } catch (err) {
      await this.deps.states.dropPartial(vmId);
      // The save stopped the vCPUs; a VM that is still there runs on as before.
      await hv.resume(vmId).catch(() => undefined);
      throw err;
    } finally {
      await fh.close();
    }
  }
}
