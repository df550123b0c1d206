import type { HostHelper } from '../ports/host.js';
import type { VmRepository } from '../ports/vms.js';

/**
 * Gives a VM's tap back to privhelper's pool and forgets it on the VM's row, where it exists.
 * The row's tap column is unique: a stopped VM still naming a tap the pool handed to another VM
 * made that VM's create fail VM_TAP_TAKEN.
 */
export async function giveBackTap(deps: { host: Pick<HostHelper, 'releaseTap'>; vms: Pick<VmRepository, 'update'> }, vmId: string): Promise<void> {
  await deps.host.releaseTap(vmId);
  try {
    await deps.vms.update(vmId, { network: { tap: null } });
  } catch (err) {
    // A create's rollback gives the tap back before it drops the row; no row, nothing to forget.
    if ((err as { code?: unknown }).code !== 'NOT_FOUND') throw err;
  }
}
