import { validateVmId } from '../domain/vmspec/spec.js';
import type { ListHeldDeps } from './list-held.js';

export interface ReleaseVmResult {
  killedHypervisor: boolean;
  tap: string;
  removedDiskDir: boolean;
  removedRunDir: boolean;
}

/**
 * ReleaseVm: gives up everything privhelper holds for one VM, in the order that frees each
 * piece from the one using it (the process holds the tap and the disks, so it goes first).
 * Every path comes from the validated id inside privhelper's own roots; repeating it is a
 * no-op. Deciding that nothing owns the VM any more is the caller's job (vmd's janitor).
 */
export async function releaseVm(deps: ListHeldDeps, vmIdIn: string): Promise<ReleaseVmResult> {
  const vmId = validateVmId(vmIdIn);
  const procs = await deps.processes();
  const killed = (await procs.kill(vmId)) !== 'not_running';
  const { tap } = await deps.taps.releaseTap(vmId);
  const disk = await deps.disks.removeVm(vmId);
  const run = await procs.remove(vmId);
  return { killedHypervisor: killed, tap: tap ?? '', removedDiskDir: disk.removed, removedRunDir: run.removed };
}
