import { INTERRUPTED, type Operation } from '@banger/store/operations';
import type { Logger } from 'pino';
import type { OperationLog } from '../ports.js';
import { INTERRUPTED_CODE, openStage, type FailureBody } from './outcome.js';

const MESSAGE = 'the daemon stopped while the operation was running';

/**
 * Start-up step, before serving: operations left `running` by a previous process can never
 * finish. Each gets a final INTERRUPTED failure event (so a WatchOperation replay ends the way a
 * live one would) and is marked failed; what they had created is logged for cleanup.
 */
export async function recoverInterrupted(log: OperationLog, logger: Logger): Promise<Operation[]> {
  for (;;) {
    const running = await log.list({ state: 'running', limit: 1000 });
    for (const op of running) {
      const failure: FailureBody = {
        type: 'failure',
        stage: openStage(await log.events(op.opId)),
        code: INTERRUPTED_CODE,
        reason: INTERRUPTED,
        message: MESSAGE,
        opId: op.opId,
        leftovers: op.resources.map((r) => ({ kind: r.kind, ref: r.ref })),
      };
      await log.appendEvent(op.opId, failure as unknown as Record<string, unknown>);
    }
    if (running.length < 1000) break;
    // Not marked yet: mark this batch before reading the next one.
    await log.markInterrupted(MESSAGE);
  }
  const marked = await log.markInterrupted(MESSAGE);
  if (marked.length > 0) {
    logger.warn({ count: marked.length, op_ids: marked.map((o) => o.opId) }, 'interrupted operations marked failed');
  }
  for (const op of marked) {
    if (op.resources.length === 0) continue;
    logger.warn({ op_id: op.opId, kind: op.kind, target: op.target, resources: op.resources }, 'interrupted operation leftovers');
  }
  return marked;
}
