import { ResourceExhaustedError } from '@banger/runtime/errors';

const MIB = 1024 * 1024;

export interface GuestMemoryQuotaDeps {
  /** Guest memory of all running VMs, in MiB. */
  runningMib: () => Promise<number>;
  /** Bytes the snapshot templates privhelper holds (sealed memfds: RAM no VM's quota shows). */
  templateBytes: () => number;
  /** [privhelper] max_guest_memory_percent of host RAM, in MiB. */
  limitMib: number;
}

/**
 * The one check behind [privhelper] max_guest_memory_percent. A warm or fork template's sealed
 * memfd is host RAM as real as a running guest's, held for the snapshot's life, so it counts:
 * otherwise enough templates exhaust the host while every launch still passes.
 */
export async function checkGuestMemory(deps: GuestMemoryQuotaDeps, addMib: number, what: string): Promise<void> {
  const running = await deps.runningMib();
  const templates = Math.ceil(deps.templateBytes() / MIB);
  if (running + templates + addMib <= deps.limitMib) return;
  throw new ResourceExhaustedError(
    'GUEST_MEMORY_QUOTA_EXCEEDED',
    `running VMs use ${running} MiB and snapshot templates hold ${templates} MiB; ${addMib} MiB more for ${what} would pass the ${deps.limitMib} MiB allowed ([privhelper] max_guest_memory_percent; delete unused snapshots to free template RAM)`,
    { fields: { field: 'memory_mib', limit: 'privhelper.max_guest_memory_percent', running_mib: String(running), template_mib: String(templates) } },
  );
}
