import type { Queryable } from '../db.js';
import { quoteIdent } from '../db.js';
import { StoreError, toStoreError } from '../errors.js';
import type { JsonObject } from '../json.js';
import { toJsonParam } from '../json.js';
import { OperationHub } from './hub.js';
import type { EventRow, OperationRow } from './rows.js';
import { toEvent, toOperation } from './rows.js';
import type {
  FinalOperationState,
  ListOperationsFilter,
  Operation,
  OperationError,
  OperationEvent,
  OperationResource,
  WatchItem,
} from './types.js';
import { INTERRUPTED } from './types.js';
import type { WatchOptions } from './watch.js';
import { watchOperation } from './watch.js';

export interface OperationStoreOptions {
  /** The owning daemon's schema ('vmd' or 'imaged'). */
  schema: string;
  /** Share one hub between stores of the same schema; a new one by default. */
  hub?: OperationHub;
}

export interface FinishOptions {
  error?: OperationError;
  result?: JsonObject;
}

function notFound(opId: string): StoreError {
  return new StoreError('NOT_FOUND', 'OPERATION_NOT_FOUND', `operation ${opId} not found`, { op_id: opId });
}

/**
 * Durable record of a daemon's asynchronous operations and their event streams, and the single
 * writer that feeds live watchers: every write goes to the table first and is then published.
 */
export class OperationStore {
  readonly hub: OperationHub;
  private readonly t: string;
  private readonly ev: string;

  constructor(
    private readonly db: Queryable,
    opts: OperationStoreOptions,
  ) {
    const s = quoteIdent(opts.schema);
    this.t = `${s}.operations`;
    this.ev = `${s}.operation_events`;
    this.hub = opts.hub ?? new OperationHub();
  }

  async create(opId: string, kind: string, target = ''): Promise<Operation> {
    try {
      const { rows } = await this.db.query<OperationRow>(
        `INSERT INTO ${this.t} (op_id, kind, target) VALUES ($1, $2, $3) RETURNING *`,
        [opId, kind, target],
      );
      return toOperation(rows[0] as OperationRow);
    } catch (err) {
      const e = toStoreError(err);
      if (e.code === 'ALREADY_EXISTS') {
        throw new StoreError('ALREADY_EXISTS', 'OPERATION_ALREADY_EXISTS', `operation ${opId} already exists`, {
          op_id: opId,
        }, { cause: err });
      }
      throw e;
    }
  }

  async get(opId: string): Promise<Operation> {
    const { rows } = await this.db.query<OperationRow>(`SELECT * FROM ${this.t} WHERE op_id = $1`, [opId]);
    const row = rows[0];
    if (!row) throw notFound(opId);
    return toOperation(row);
  }

  /** Appends one event with the next seq; refused once the operation has finished. */
  async appendEvent(opId: string, event: JsonObject): Promise<OperationEvent> {
    const { rows } = await this.db.query<EventRow>(
      `WITH next AS (
         UPDATE ${this.t} SET last_seq = last_seq + 1, updated_at = now()
         WHERE op_id = $1 AND state = 'running'
         RETURNING last_seq
       )
       INSERT INTO ${this.ev} (op_id, seq, event)
       SELECT $1, last_seq, $2::jsonb FROM next
       RETURNING *`,
      [opId, toJsonParam(event)],
    );
    const row = rows[0];
    if (!row) throw await this.notRunning(opId);
    const stored = toEvent(row);
    this.hub.publish(opId, { type: 'event', event: stored });
    return stored;
  }

  async finish(opId: string, state: FinalOperationState, opts: FinishOptions = {}): Promise<Operation> {
    const { error, result } = opts;
    const { rows } = await this.db.query<OperationRow>(
      `UPDATE ${this.t}
       SET state = $2, error_reason = $3, error_message = $4, error_fields = $5::jsonb,
           result = $6::jsonb, finished_at = now(), updated_at = now()
       WHERE op_id = $1 AND state = 'running'
       RETURNING *`,
      [
        opId,
        state,
        error?.reason ?? null,
        error?.message ?? null,
        error?.fields ? toJsonParam(error.fields) : null,
        result ? toJsonParam(result) : null,
      ],
    );
    const row = rows[0];
    if (!row) throw await this.notRunning(opId);
    const op = toOperation(row);
    this.hub.publish(opId, { type: 'finished', operation: op });
    return op;
  }

  async recordResource(opId: string, resource: OperationResource): Promise<void> {
    const { rowCount } = await this.db.query(
      `UPDATE ${this.t} SET resources = resources || $2::jsonb, updated_at = now() WHERE op_id = $1`,
      [opId, toJsonParam([resource])],
    );
    if (rowCount === 0) throw notFound(opId);
  }

  /** Forgets a resource once it was cleaned up (or handed over to a finished object). */
  async releaseResource(opId: string, kind: string, ref: string): Promise<void> {
    const { rowCount } = await this.db.query(
      `UPDATE ${this.t}
       SET resources = COALESCE((SELECT jsonb_agg(r) FROM jsonb_array_elements(resources) r
                                 WHERE NOT (r->>'kind' = $2 AND r->>'ref' = $3)), '[]'::jsonb),
           updated_at = now()
       WHERE op_id = $1`,
      [opId, kind, ref],
    );
    if (rowCount === 0) throw notFound(opId);
  }

  async list(filter: ListOperationsFilter = {}): Promise<Operation[]> {
    const where: string[] = [];
    const params: (string | number | readonly string[])[] = [];
    if (filter.state !== undefined) {
      params.push(typeof filter.state === 'string' ? [filter.state] : filter.state);
      where.push(`state = ANY($${params.length}::text[])`);
    }
    if (filter.kind !== undefined) {
      params.push(typeof filter.kind === 'string' ? [filter.kind] : filter.kind);
      where.push(`kind = ANY($${params.length}::text[])`);
    }
    if (filter.target !== undefined) {
      params.push(filter.target);
      where.push(`target = $${params.length}`);
    }
    params.push(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    const { rows } = await this.db.query<OperationRow>(
      `SELECT * FROM ${this.t} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, op_id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toOperation);
  }

  /** Stored events after `afterSeq`, in order; NOT_FOUND when the operation does not exist. */
  async events(opId: string, afterSeq = 0): Promise<OperationEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT * FROM ${this.ev} WHERE op_id = $1 AND seq > $2 ORDER BY seq`,
      [opId, afterSeq],
    );
    if (rows.length === 0) await this.get(opId);
    return rows.map(toEvent);
  }

  /**
   * Run once at start-up, before new operations begin: whatever was running belonged to a
   * previous process and can no longer finish. Returns those operations with the resources
   * they recorded, for the daemon to clean up.
   */
  async markInterrupted(message = 'the daemon stopped while the operation was running'): Promise<Operation[]> {
    const { rows } = await this.db.query<OperationRow>(
      `UPDATE ${this.t}
       SET state = 'failed', error_reason = $1, error_message = $2, finished_at = now(), updated_at = now()
       WHERE state = 'running'
       RETURNING *`,
      [INTERRUPTED, message],
    );
    const ops = rows.map(toOperation).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    for (const op of ops) this.hub.publish(op.opId, { type: 'finished', operation: op });
    return ops;
  }

  /** Deletes operations (and their events) that finished more than `olderThanMs` ago. */
  async pruneFinished(olderThanMs: number): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM ${this.t}
       WHERE state <> 'running' AND finished_at < now() - ($1::double precision * interval '1 millisecond')`,
      [olderThanMs],
    );
    return rowCount;
  }

  watch(opId: string, opts: WatchOptions = {}): AsyncGenerator<WatchItem, void, undefined> {
    return watchOperation(this, this.hub, opId, opts);
  }

  private async notRunning(opId: string): Promise<StoreError> {
    const op = await this.get(opId);
    return new StoreError('FAILED_PRECONDITION', 'OPERATION_FINISHED', `operation ${opId} already ${op.state}`, {
      op_id: opId,
      state: op.state,
    });
  }
}
