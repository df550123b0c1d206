import type { Logger } from 'pino';
import type { OperationLog } from '../ports.js';

/**
 * Finished operations are kept this long for `banger ops` and WatchOperation replays, then
 * deleted with their events. Not configurable yet: a week covers "what happened to my VM
 * yesterday" without letting the table grow without bound.
 */
export const OPERATION_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** Prunes once now and then periodically; returns a stop function (call it before closing the db). */
export function schedulePruning(
  log: Pick<OperationLog, 'pruneFinished'>,
  logger: Logger,
  opts: { retentionMs?: number; intervalMs?: number } = {},
): () => Promise<void> {
  const retentionMs = opts.retentionMs ?? OPERATION_RETENTION_MS;
  let running: Promise<void> = Promise.resolve();
  const prune = (): void => {
    running = log.pruneFinished(retentionMs).then(
      (count) => {
        if (count > 0) logger.info({ count, retention_ms: retentionMs }, 'finished operations pruned');
      },
      (err: unknown) => logger.warn({ err }, 'pruning finished operations failed'),
    );
  };
  prune();
  const timer = setInterval(prune, opts.intervalMs ?? PRUNE_INTERVAL_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
