/**
 * Mutual exclusion per key (a VM id, an agent socket): work on one key runs one at a time,
 * different keys run in parallel. `run` waits its turn (first come, first served); `tryRun`
 * refuses at once when the key is held, for callers that must fail fast rather than queue
 * behind a long operation. The one lock helper of banger: there is no other.
 */
export class KeyedLock {
  private readonly held = new Map<string, { tail: Promise<void>; label: string }>();

  /** Runs `fn` once every earlier holder of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>, label = ''): Promise<T> {
    const prev = this.held.get(key)?.tail ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.held.set(key, { tail, label });
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.held.get(key)?.tail === tail) this.held.delete(key);
    }
  }

  /** Runs `fn` only if nobody holds `key`; otherwise throws `busy(holderLabel)` without waiting. */
  async tryRun<T>(key: string, label: string, fn: () => Promise<T>, busy: (holder: string) => Error): Promise<T> {
    const current = this.held.get(key);
    if (current) throw busy(current.label);
    return this.run(key, fn, label);
  }

  isHeld(key: string): boolean {
    return this.held.has(key);
  }

  /** Whether any key is held right now. */
  anyHeld(): boolean {
    return this.held.size > 0;
  }
}
