import { isDeepStrictEqual } from 'node:util';
import { backgroundContext, runWithContext } from '@banger/runtime/context';
import { CancelledError, FailedPreconditionError, toBangerError, UnavailableError } from '@banger/runtime/errors';
import { failureEvent, type OpEventBody, type OpEventSink } from '@banger/runtime/ops';
import type { JsonObject } from '@banger/store';
import type { Operation, OperationResource } from '@banger/store/operations';
import type { Logger } from 'pino';
import type { OperationLog } from '../ports.js';
import { viewOf, type FailureBody, type OperationOutcome, type OperationView } from './outcome.js';

/** What a use case gets to run as a durable operation. */
export interface OperationHandle {
  readonly opId: string;
  /** Aborted by CancelOperation, a detaching cancel_on_detach client, or daemon shutdown. */
  readonly signal: AbortSignal;
  /** Persists the event (it gets the next seq) and publishes it to every watcher. */
  readonly emit: OpEventSink;
  /** Records a host resource as soon as it exists, so an interrupted operation can be cleaned up. */
  recordResource(kind: string, ref: string, detail?: JsonObject): Promise<void>;
  /** Forgets a resource once rolled back or handed over to the finished object. */
  releaseResource(kind: string, ref: string): Promise<void>;
}

/** The work of an operation; what it returns is kept as the operation's result. */
export type OperationWork = (op: OperationHandle) => Promise<JsonObject | undefined | void>;

export interface StartOperation {
  /** The dispatch op id of the RPC that starts the operation. */
  opId: string;
  kind: string;
  target: string;
}

export interface OperationRunnerOptions {
  log: OperationLog;
  logger: Logger;
  /** Service name for the background request context ('vmd', 'imaged'). */
  service: string;
  /** How long a cancelled operation may take to roll back before it is closed anyway. */
  cancelGraceMs?: number;
  /** Told once per operation when its final state is written (the daemon's metrics). */
  onFinished?: (record: { kind: string; state: string; reason: string | undefined; durationMs: number }) => void;
  /**
   * The final write is retried this often while the database is unavailable (it died under
   * the operation), for at most `finishRetryForMs` (default 5 min); past that, or at shutdown,
   * the row stays `running` and the next start-up marks it INTERRUPTED.
   */
  finishRetryMs?: number;
  finishRetryForMs?: number;
}

interface LiveOperation {
  readonly opId: string;
  readonly controller: AbortController;
  stage: string | undefined;
  targetId: string | undefined;
  failure: FailureBody | undefined;
  /** The failure event reached the log (its write may have failed with the database). */
  failureStored: boolean;
  /** A failure append was sent: if its answer was lost, the event may be in the log already. */
  failureSent: boolean;
  /** Set once the runner finalised the operation: late events from stuck work are dropped. */
  closed: boolean;
  done: Promise<Operation>;
}

type Settled = { ok: true; value: JsonObject | undefined } | { ok: false; error: unknown } | { timedOut: true };

/**
 * Runs use cases as durable operations: one row per op id, every event persisted before any
 * client sees it, and a final state written when the work ends. The work runs detached from
 * the RPC that started it, so a client that goes away only stops watching; cancelling is an
 * explicit act (CancelOperation, cancel_on_detach, shutdown) delivered through an AbortSignal.
 */
export class OperationRunner {
  private readonly live = new Map<string, LiveOperation>();
  private stopping = false;
  private readonly cancelGraceMs: number;

  constructor(private readonly options: OperationRunnerOptions) {
    this.cancelGraceMs = options.cancelGraceMs ?? 10_000;
  }

  /**
   * Creates the operation row and starts the work in the background. Throws (nothing started)
   * when the row cannot be created: op id reused (ALREADY_EXISTS) or database down (UNAVAILABLE).
   */
  async start(req: StartOperation, work: OperationWork): Promise<{ opId: string; done: Promise<Operation> }> {
    await this.options.log.create(req.opId, req.kind, req.target);
    const live: LiveOperation = {
      opId: req.opId,
      controller: new AbortController(),
      stage: undefined,
      targetId: undefined,
      failure: undefined,
      failureStored: false,
      failureSent: false,
      closed: false,
      done: Promise.resolve(undefined as unknown as Operation),
    };
    this.live.set(req.opId, live);
    live.done = this.run(live, req, work).finally(() => this.live.delete(req.opId));
    // Consumers await `done` when they care; a failed finalisation is logged in run().
    live.done.catch(() => undefined);
    return { opId: req.opId, done: live.done };
  }

  /** Whether this process is running the operation (only the owner can cancel it). */
  isRunning(opId: string): boolean {
    return this.live.has(opId);
  }

  /** The row plus what only the live runner knows (current stage, target id). */
  describe(op: Operation): OperationView {
    const live = this.live.get(op.opId);
    return viewOf(op, live && op.state === 'running' ? { stage: live.stage, targetId: live.targetId } : undefined);
  }

  /**
   * Cancels an operation this process runs and waits for it to end `cancelled`. NOT_FOUND for
   * an unknown op id, FAILED_PRECONDITION when it already finished or belongs to no live work.
   */
  async cancel(opId: string, reason: Error = new CancelledError('OPERATION_CANCELLED', 'operation cancelled on request')): Promise<Operation> {
    const live = this.live.get(opId);
    if (!live) {
      const op = await this.options.log.get(opId);
      if (op.state !== 'running') {
        throw new FailedPreconditionError('OPERATION_FINISHED', `operation ${opId} already ${op.state}`, { fields: { op_id: opId, state: op.state } });
      }
      throw new FailedPreconditionError('OPERATION_NOT_OWNED', `operation ${opId} is not run by this daemon`, { fields: { op_id: opId } });
    }
    live.controller.abort(reason);
    return live.done;
  }

  /** Aborts everything still running (state failed, reason DAEMON_STOPPING) and waits up to `graceMs`. */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    const running = [...this.live.values()];
    if (running.length === 0) return;
    this.options.logger.info({ count: running.length, op_ids: running.map((l) => l.opId) }, 'stopping running operations');
    for (const live of running) live.controller.abort(new UnavailableError('DAEMON_STOPPING', 'the daemon stopped while the operation was running'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running.map((l) => l.done)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private handle(live: LiveOperation): OperationHandle {
    const { log } = this.options;
    const { opId, controller } = live;
    return {
      opId,
      signal: controller.signal,
      emit: async (body: OpEventBody) => {
        if (live.closed) throw new FailedPreconditionError('OPERATION_FINISHED', `operation ${opId} already ended`, { fields: { op_id: opId } });
        // No new stage starts once cancelled; the work's rollback and failure events still go through.
        if (body.type === 'stage_started' && controller.signal.aborted) throw toBangerError(controller.signal.reason);
        if (body.type === 'stage_started') live.stage = body.stage;
        if (body.type === 'accepted' && body.targetId) live.targetId = body.targetId;
        if (body.type === 'failure') {
          live.failure = body;
          live.failureSent = true;
        }
        await log.appendEvent(opId, body as unknown as JsonObject);
        if (body.type === 'failure') live.failureStored = true;
      },
      recordResource: (kind, ref, detail) => log.recordResource(opId, { kind, ref, ...(detail ? { detail } : {}) }),
      releaseResource: (kind, ref) => log.releaseResource(opId, kind, ref),
    };
  }

  private async run(live: LiveOperation, req: StartOperation, work: OperationWork): Promise<Operation> {
    const root = this.options.logger;
    const ctx = { ...backgroundContext(root, req.opId, `operation ${req.kind}`, this.options.service), signal: live.controller.signal };
    const started = Date.now();
    const settled = await this.settle(live, () => runWithContext(ctx, () => work(this.handle(live))));
    live.closed = true;
    try {
      const op = await this.finaliseRetrying(live, settled, ctx.logger);
      const durationMs = Date.now() - started;
      ctx.logger.info({ kind: req.kind, target: req.target, state: op.state, reason: op.error?.reason, duration_ms: durationMs }, 'operation finished');
      this.options.onFinished?.({ kind: req.kind, state: op.state, reason: op.error?.reason, durationMs });
      return op;
    } catch (err) {
      // The row stays `running` (the database did not come back in time); the next start-up marks it INTERRUPTED.
      ctx.logger.error({ err, kind: req.kind }, 'operation could not be finished');
      throw err;
    }
  }

  /** Waits for the work, or, once aborted, at most the cancel grace period. */
  private async settle(live: LiveOperation, fn: () => Promise<JsonObject | undefined | void>): Promise<Settled> {
    const work = Promise.resolve()
      .then(fn)
      .then(
        (value): Settled => ({ ok: true, value: value ?? undefined }),
        (error: unknown): Settled => ({ ok: false, error }),
      );
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const grace = new Promise<Settled>((resolve) => {
      onAbort = () => {
        timer = setTimeout(() => resolve({ timedOut: true }), this.cancelGraceMs);
      };
      if (live.controller.signal.aborted) onAbort();
      else live.controller.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([work, grace]);
    } finally {
      clearTimeout(timer);
      if (onAbort) live.controller.signal.removeEventListener('abort', onAbort);
    }
  }

  /** A database that died under the operation comes back: its outcome is written then, not left `running` until a restart. */
  private async finaliseRetrying(live: LiveOperation, settled: Settled, logger: Logger): Promise<Operation> {
    const deadline = Date.now() + (this.options.finishRetryForMs ?? 300_000);
    for (let attempt = 1; ; attempt++) {
      try {
        // A finish whose answer was lost may have committed: then that is the outcome.
      const finished = attempt > 1 ? await this.options.log.get(live.opId) : undefined;
      if (finished && finished.state !== 'running') return finished;
      const op = await this.finalise(live, settled);
        if (attempt > 1) logger.info({ attempts: attempt }, 'operation finished once the database answered again');
        return op;
      } catch (err) {
        if (this.stopping || Date.now() >= deadline || toBangerError(err).code !== 'UNAVAILABLE') throw err;
        if (attempt === 1) logger.warn({ err }, 'operation could not be finished; retrying until the database answers');
        await new Promise((r) => setTimeout(r, this.options.finishRetryMs ?? 1000));
      }
    }
  }

  /** Appends the failure event once, also when an earlier append committed but its answer was lost. */
  private async storeFailure(live: LiveOperation, failure: FailureBody): Promise<void> {
    const { log } = this.options;
    const body = failure as unknown as JsonObject;
    const already = live.failureSent && isDeepStrictEqual((await log.events(live.opId)).at(-1)?.event, JSON.parse(JSON.stringify(body)));
    live.failureSent = true;
    if (!already) await log.appendEvent(live.opId, body);
    live.failureStored = true;
  }

  private async finalise(live: LiveOperation, settled: Settled): Promise<Operation> {
    const { log } = this.options;
    const { opId, controller } = live;
    if ('ok' in settled && settled.ok) {
      const outcome: OperationOutcome = { ...(live.stage ? { stage: live.stage } : {}), ...(live.targetId ? { targetId: live.targetId } : {}) };
      if (settled.value) outcome.value = settled.value;
      return log.finish(opId, 'succeeded', { result: outcome as JsonObject });
    }
    const aborted = controller.signal.aborted;
    const cause: unknown = 'error' in settled ? settled.error : controller.signal.reason;
    let failure = live.failure;
    if (!failure) {
      const current = await log.get(opId);
      const body = failureEvent(cause, opId);
      if (!body.stage && live.stage) body.stage = live.stage;
      if ('timedOut' in settled) body.message = `${body.message} (the work did not stop within ${this.cancelGraceMs} ms)`;
      const leftovers = current.resources.map((r: OperationResource) => ({ kind: r.kind, ref: r.ref }));
      if (leftovers.length > 0) body.leftovers = leftovers;
      failure = body;
      live.failure = body;
    }
    if (!live.failureStored) await this.storeFailure(live, failure);
    // Cancelled only when the cancellation is what ended it; work that failed on its own stays failed.
    const cancelledByRequest = aborted && toBangerError(controller.signal.reason).code === 'CANCELLED';
    const state = cancelledByRequest && ('timedOut' in settled || failure.code === 'CANCELLED') ? 'cancelled' : 'failed';
    const outcome: OperationOutcome = { code: failure.code as OperationOutcome['code'] & string, stage: failure.stage };
    if (live.targetId) outcome.targetId = live.targetId;
    return log.finish(opId, state, {
      error: { reason: failure.reason, message: failure.message, ...(failure.metadata && Object.keys(failure.metadata).length > 0 ? { fields: failure.metadata } : {}) },
      result: outcome as JsonObject,
    });
  }
}
