import { publicMessage, toBangerError } from '../errors.js';

/**
 * The event model of long operations (VM create/start, image build, kernel pull), shared by
 * vmd and imaged, JSON-serialisable so the store can keep it and WatchOperation can replay it.
 * Each service converts these to its own proto OperationEvent at the gRPC edge.
 */
export type OpEventBody =
  | { type: 'accepted'; opId: string; kind: string; target: string; targetId?: string }
  | { type: 'stage_started'; stage: string; description?: string; startedAt: string }
  | { type: 'stage_finished'; stage: string; durationMs: number; ok: boolean; skipped?: boolean; message?: string }
  | { type: 'progress'; stage: string; done: number; total: number; unit: string; message?: string }
  | { type: 'log_line'; stage: string; stream: 'stdout' | 'stderr' | 'console' | 'info'; line: string }
  | {
      type: 'failure';
      stage: string;
      code: string;
      reason: string;
      message: string;
      opId: string;
      consoleTail?: string[];
      rolledBack?: { kind: string; ref: string }[];
      leftovers?: { kind: string; ref: string }[];
      metadata?: Record<string, string>;
    }
  | { type: 'result'; result: Record<string, unknown> };

export type OpEventSink = (event: OpEventBody) => Promise<void>;

/** Error raised inside a stage, remembering which stage failed for the failure event. */
export class StageFailure extends Error {
  constructor(
    readonly stage: string,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * Runs named stages, emitting started/finished events with durations. A throwing stage
 * emits `stage_finished ok=false` and rethrows as StageFailure so the caller can roll back
 * and report which stage failed.
 */
export class StageRunner {
  constructor(private readonly emit: OpEventSink) {}

  async run<T>(stage: string, description: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    await this.emit({ type: 'stage_started', stage, description, startedAt: new Date().toISOString() });
    try {
      const value = await fn();
      await this.emit({ type: 'stage_finished', stage, durationMs: Math.round(performance.now() - started), ok: true });
      return value;
    } catch (err) {
      const message = publicMessage(toBangerError(err instanceof StageFailure ? err.error : err));
      await this.emit({ type: 'stage_finished', stage, durationMs: Math.round(performance.now() - started), ok: false, message });
      throw err instanceof StageFailure ? err : new StageFailure(stage, err);
    }
  }

  async skip(stage: string, why: string): Promise<void> {
    await this.emit({ type: 'stage_started', stage, description: why, startedAt: new Date().toISOString() });
    await this.emit({ type: 'stage_finished', stage, durationMs: 0, ok: true, skipped: true, message: why });
  }
}

/** The failure event for an error, with stage and op id; the message as a client may see it (publicMessage). */
export function failureEvent(err: unknown, opId: string, extra: { consoleTail?: string[] } = {}): Extract<OpEventBody, { type: 'failure' }> {
  const stage = err instanceof StageFailure ? err.stage : '';
  const e = toBangerError(err instanceof StageFailure ? err.error : err);
  return {
    type: 'failure',
    stage,
    code: e.code,
    reason: e.reason,
    message: publicMessage(e),
    opId,
    ...(extra.consoleTail ? { consoleTail: extra.consoleTail } : {}),
    metadata: { ...e.fields },
  };
}
