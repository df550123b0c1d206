import type { Logger } from 'pino';
import type { OperationContext } from './vm-create.js';

interface Step {
  kind: string;
  ref: string;
  undo: () => Promise<void>;
}

/**
 * Undo log of one operation. Each resource is recorded on the durable operation as soon as
 * it exists (so a crash leaves a list to clean up at next start), and undone in reverse order
 * on failure. Undo steps are idempotent privhelper verbs, so a retry after a crash is safe.
 */
export class Rollback {
  private steps: Step[] = [];

  constructor(
    private readonly op: Pick<OperationContext, 'recordResource' | 'releaseResource'>,
    private readonly logger: () => Logger,
  ) {}

  async add(kind: string, ref: string, undo: () => Promise<void>): Promise<void> {
    this.steps.push({ kind, ref, undo });
    await this.op.recordResource(kind, ref);
  }

  /** The operation succeeded: its resources now belong to the VM, not to the operation. */
  async commit(): Promise<void> {
    for (const s of this.steps) await this.op.releaseResource(s.kind, s.ref);
    this.steps = [];
  }

  async undo(): Promise<{ undone: { kind: string; ref: string }[]; leftovers: { kind: string; ref: string }[] }> {
    const undone: { kind: string; ref: string }[] = [];
    const leftovers: { kind: string; ref: string }[] = [];
    for (const s of this.steps.reverse()) {
      try {
        await s.undo();
        await this.op.releaseResource(s.kind, s.ref).catch(() => undefined);
        undone.push({ kind: s.kind, ref: s.ref });
      } catch (err) {
        this.logger().error({ err, kind: s.kind, ref: s.ref }, 'rollback step failed');
        leftovers.push({ kind: s.kind, ref: s.ref });
      }
    }
    this.steps = [];
    return { undone, leftovers };
  }
}
