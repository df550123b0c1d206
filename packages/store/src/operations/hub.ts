import type { Operation, OperationEvent } from './types.js';

export type OperationUpdate =
  | { type: 'event'; event: OperationEvent }
  | { type: 'finished'; operation: Operation };

type Listener = (update: OperationUpdate) => void;

/**
 * In-process fan-out of operation updates. Only the daemon that runs an operation writes it, so
 * live following needs no database notifications; anything missed is re-read from the table.
 */
export class OperationHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  subscribe(opId: string, listener: Listener): () => void {
    let set = this.listeners.get(opId);
    if (!set) {
      set = new Set();
      this.listeners.set(opId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(opId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(opId);
    };
  }

  publish(opId: string, update: OperationUpdate): void {
    const set = this.listeners.get(opId);
    if (!set) return;
    for (const listener of [...set]) listener(update);
  }

  /** Number of live watchers, for tests and diagnostics. */
  watcherCount(opId?: string): number {
    if (opId !== undefined) return this.listeners.get(opId)?.size ?? 0;
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}
