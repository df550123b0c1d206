import { quoteIdent } from '../db.js';

/**
 * Durable operations, identical in every daemon's schema: one row per asynchronous operation
 * (op id = the dispatch op id of the RPC) and its ordered events. `last_seq` lets appends assign
 * the next sequence number atomically under the row lock; `resources` lists what the operation
 * created so a restart can clean up after an interrupted one.
 */
export function operationsMigrationSql(schema: string): string {
  const s = quoteIdent(schema);
  return `
    CREATE TABLE ${s}.operations (
      op_id text PRIMARY KEY,
      kind text NOT NULL,
      target text NOT NULL DEFAULT '',
      state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
      error_reason text,
      error_message text,
      error_fields jsonb,
      result jsonb,
      resources jsonb NOT NULL DEFAULT '[]'::jsonb,
      last_seq integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      CHECK ((state = 'running') = (finished_at IS NULL))
    );
    CREATE INDEX operations_state_kind_idx ON ${s}.operations (state, kind, created_at DESC);
    CREATE INDEX operations_target_idx ON ${s}.operations (target);
    CREATE INDEX operations_finished_at_idx ON ${s}.operations (finished_at) WHERE finished_at IS NOT NULL;

    CREATE TABLE ${s}.operation_events (
      op_id text NOT NULL REFERENCES ${s}.operations (op_id) ON DELETE CASCADE,
      seq integer NOT NULL CHECK (seq > 0),
      at timestamptz NOT NULL DEFAULT now(),
      event jsonb NOT NULL,
      PRIMARY KEY (op_id, seq)
    );
  `;
}
