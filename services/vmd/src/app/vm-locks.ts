import { AbortedError } from '@banger/runtime';

/**
 * One lock per VM id serialises lifecycle operations on that VM (create, start, stop, delete,
 * resize). Lock order: a use case takes at most one VM lock and never waits on another VM's
 * lock while holding it; privhelper and imaged calls are made under the VM lock, never the
 * reverse, so there is no cycle.
 *
 * A second operation on a busy VM fails fast with ABORTED VM_BUSY (naming the operation that
 * holds it) rather than queueing silently behind a 30 s stop.
 */
export class VmLocks {
  private readonly held = new Map<string, string>();

  async with<T>(vmId: string, what: string, fn: () => Promise<T>): Promise<T> {
    const holder = this.held.get(vmId);
    if (holder !== undefined) {
      throw new AbortedError('VM_BUSY', `vm is busy with ${holder}; try again when it finishes`, { fields: { vm_id: vmId, busy_with: holder } });
    }
    this.held.set(vmId, what);
    try {
      return await fn();
    } finally {
      this.held.delete(vmId);
    }
  }

  isBusy(vmId: string): boolean {
    return this.held.has(vmId);
  }
}
