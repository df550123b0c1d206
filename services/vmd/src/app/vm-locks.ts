import { KeyedLock } from '@banger/runtime/keyed-lock';
import { vmBusy } from '../domain/vm-state.js';

/**
 * One lock per VM id serialises lifecycle operations on that VM (create, start, stop, delete,
 * resize, promote). Lock order: a use case takes at most one VM lock and never waits on another
 * VM's lock while holding it; privhelper and imaged calls are made under the VM lock, never the
 * reverse, so there is no cycle.
 *
 * A second operation on a busy VM fails fast with ABORTED VM_BUSY (naming the operation that
 * holds it) rather than queueing silently behind a 30 s stop.
 */
export class VmLocks {
  private readonly lock = new KeyedLock();

  with<T>(vmId: string, what: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.tryRun(vmId, what, fn, (holder) => vmBusy(vmId, holder));
  }

  isBusy(vmId: string): boolean {
    return this.lock.isHeld(vmId);
  }

  /** Some lifecycle call holds a VM lock (a stop, a delete, a create's stages). */
  anyBusy(): boolean {
    return this.lock.anyHeld();
  }
}
