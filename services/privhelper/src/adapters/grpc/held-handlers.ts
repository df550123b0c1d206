import { readdir } from 'node:fs/promises';
import type { helperv2 } from '@banger/api';
import { unary } from '@banger/runtime';
import { listHeld, type ListHeldDeps } from '../../app/list-held.js';
import { releaseVm } from '../../app/release-vm.js';
import type { Hypervisor } from '../../domain/hypervisor/driver.js';
import type { HeldDisks, HeldProcesses, HeldSnapshots, HeldTaps } from '../../ports/stores.js';

/** The hypervisor driver and privhelper's run root, as ListHeld and ReleaseVm see them. */
export function heldProcesses(hv: Hypervisor, runVmsDir: string): HeldProcesses {
  return {
    runDirVmIds: async () => (await readdir(runVmsDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')),
    find: (vmId) => hv.find(vmId),
    kill: (vmId) => hv.kill(vmId),
    remove: (vmId) => hv.remove(vmId),
  };
}

export interface HeldHandlerDeps {
  disks: HeldDisks;
  taps: HeldTaps;
  hypervisor: () => Promise<Hypervisor>;
  runVmsDir: string;
  snapshots: HeldSnapshots;
}

/** ListHeld and ReleaseVm: convert, call the use case, convert back. */
export function heldHandlers(d: HeldHandlerDeps): Record<string, unknown> {
  const deps: ListHeldDeps = { disks: d.disks, taps: d.taps, processes: async () => heldProcesses(await d.hypervisor(), d.runVmsDir), snapshots: d.snapshots };
  return {
    listHeld: unary(async (): Promise<helperv2.ListHeldResponse> => listHeld(deps)),
    releaseVm: unary(async (req: helperv2.ReleaseVmRequest): Promise<helperv2.ReleaseVmResponse> => releaseVm(deps, req.vmId)),
  };
}
