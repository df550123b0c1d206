import { log } from '@banger/runtime/logging';
import type { OperationHandle } from '../ports/operation.js';

interface Step {
  kind: string;
  ref: string;
  undo: () => Promise<void>;
}

export interface RollbackReport {
  undone: { kind: string; ref: string }[];
  leftovers: { kind: string; ref: string }[];
}

/**
 * Undo log of one operation. Each resource is recorded on the durable operation as soon as
 * it exists (so a crash leaves a list to clean up at next start), with the id of the VM it
 * belongs to, and undone in reverse order on failure. Undo steps are idempotent privhelper
 * verbs, so a retry after a crash is safe.
 */
export class Rollback {
  private steps: Step[] = [];

  constructor(
    private readonly op: Pick<OperationHandle, 'recordResource' | 'releaseResource'>,
    private readonly vmId: () => string,
  ) {}

  async add(kind: string, ref: string, undo: () => Promise<void>): Promise<void> {
    this.steps.push({ kind, ref, undo });
    await this.op.recordResource(kind, ref, { vm_id: this.vmId() });
  }

  /** The operation succeeded: its resources now belong to the VM, not to the operation. */
  async commit(): Promise<void> {
    for (const s of this.steps) await this.op.releaseResource(s.kind, s.ref);
    this.steps = [];
  }

  async undo(): Promise<RollbackReport> {
    const report: RollbackReport = { undone: [], leftovers: [] };
    for (const s of this.steps.reverse()) {
      try {
        await s.undo();
        await this.op.releaseResource(s.kind, s.ref).catch(() => undefined);
        report.undone.push({ kind: s.kind, ref: s.ref });
      } catch (err) {
        log().error({ err, kind: s.kind, ref: s.ref }, 'rollback step failed');
        report.leftovers.push({ kind: s.kind, ref: s.ref });
      }
    }
    this.steps = [];
    return report;
  }
}
