import type { HeldDisks, HeldProcesses, HeldSnapshot, HeldSnapshots, HeldTaps } from '../ports/stores.js';

export interface HeldVmView {
  vmId: string;
  diskDir: boolean;
  diskFiles: string[];
  runDir: boolean;
  tap: string;
  hypervisorPid: number;
  /** The fence's nft elements ("" when none): the address, MAC and tap they pin. */
  fenceIpv4: string;
  fenceMac: string;
  fenceTap: string;
  savedStateBytes: number;
}

export interface ListHeldDeps {
  disks: HeldDisks;
  taps: HeldTaps;
  processes: () => Promise<HeldProcesses>;
  snapshots: HeldSnapshots;
}

/**
 * ListHeld: what privhelper holds for VMs, read from the host itself (its roots, the taps'
 * ownership marks, live hypervisors, the fences whose nft elements it wrote), never from a
 * caller's records, so vmd can find orphans that no operation ever listed (a directory a
 * half-finished CreateOverlay made, a tap still marked with a VM that has no row, a fence
 * whose tap was deleted under it, a snapshot directory no row names).
 */
export async function listHeld(deps: ListHeldDeps): Promise<{ vms: HeldVmView[]; dnsRecords: string[]; snapshots: HeldSnapshot[] }> {
  const procs = await deps.processes();
  const [diskIds, runIds, taps] = await Promise.all([deps.disks.vmIds(), procs.runDirVmIds(), deps.taps.heldTaps()]);
  const diskSet = new Set(diskIds);
  const runSet = new Set(runIds);
  const fences = deps.taps.heldFences();
  const ids = [...new Set([...diskIds, ...runIds, ...taps.keys(), ...fences.keys()])].sort();
  const vms = await Promise.all(
    ids.map(async (vmId): Promise<HeldVmView> => {
      const proc = runSet.has(vmId) ? await procs.find(vmId).catch(() => undefined) : undefined;
      return {
        vmId,
        diskDir: diskSet.has(vmId),
        diskFiles: diskSet.has(vmId) ? await deps.disks.files(vmId) : [],
        runDir: runSet.has(vmId),
        tap: taps.get(vmId) ?? '',
        hypervisorPid: proc?.pid ?? 0,
        fenceIpv4: fences.get(vmId)?.ipv4 ?? '',
        fenceMac: fences.get(vmId)?.mac ?? '',
        fenceTap: fences.get(vmId)?.tap ?? '',
        savedStateBytes: diskSet.has(vmId) ? await deps.disks.savedStateBytes(vmId) : 0,
      };
    }),
  );
  return { vms, dnsRecords: [...deps.taps.dnsRecordNames()].sort(), snapshots: await deps.snapshots.held() };
}
