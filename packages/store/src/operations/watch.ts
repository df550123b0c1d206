import type { OperationHub, OperationUpdate } from './hub.js';
import type { Operation, OperationEvent, WatchItem } from './types.js';

export interface WatchSource {
  get(opId: string): Promise<Operation>;
  events(opId: string, afterSeq?: number): Promise<OperationEvent[]>;
}

export interface WatchOptions {
  /** Resume after this seq (a re-attaching client passes the last seq it saw). */
  afterSeq?: number;
  /** Ends the watch early (client went away); the operation itself goes on. */
  signal?: AbortSignal;
}

/**
 * Replays stored events and then follows live ones. The subscription is taken before reading
 * the table, so nothing published in between is lost; duplicates are dropped by seq, and a gap
 * (updates published out of order by concurrent appends) is filled from the table.
 */
export async function* watchOperation(
  source: WatchSource,
  hub: OperationHub,
  opId: string,
  opts: WatchOptions = {},
): AsyncGenerator<WatchItem, void, undefined> {
  const queue: OperationUpdate[] = [];
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const unsubscribe = hub.subscribe(opId, (u) => {
    queue.push(u);
    notify();
  });
  opts.signal?.addEventListener('abort', notify);
  let last = opts.afterSeq ?? 0;
  try {
    const op = await source.get(opId);
    for (const event of await source.events(opId, last)) {
      last = event.seq;
      yield { type: 'event', event };
    }
    if (op.state !== 'running') {
      yield { type: 'finished', operation: op };
      return;
    }
    for (;;) {
      if (opts.signal?.aborted) return;
      const update = queue.shift();
      if (!update) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      if (update.type === 'event') {
        if (update.event.seq <= last) continue;
        if (update.event.seq > last + 1) {
          for (const event of await source.events(opId, last)) {
            if (event.seq >= update.event.seq) break;
            last = event.seq;
            yield { type: 'event', event };
          }
        }
        last = update.event.seq;
        yield { type: 'event', event: update.event };
      } else {
        for (const event of await source.events(opId, last)) {
          last = event.seq;
          yield { type: 'event', event };
        }
        yield { type: 'finished', operation: update.operation };
        return;
      }
    }
  } finally {
    unsubscribe();
    opts.signal?.removeEventListener('abort', notify);
  }
}
