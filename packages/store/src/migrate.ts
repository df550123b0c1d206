import type { Logger } from 'pino';
import type { Db } from './db.js';
import { quoteIdent } from './db.js';
import { StoreError, toStoreError } from './errors.js';

export interface Migration {
  /** Strictly increasing, never reused or edited once released. */
  version: number;
  name: string;
  /** Statements run in one transaction; refer to tables schema-qualified. */
  sql: string;
}

/** A daemon's own schema and the ordered migrations that build it. */
export interface SchemaDefinition {
  schema: string;
  migrations: readonly Migration[];
}

export interface MigrationReport {
  schema: string;
  applied: number[];
  current: number;
}

/** 'bang' as an int4: the class id of every banger advisory lock. */
const LOCK_CLASS = 0x62616e67;

function lockKey(schema: string): number {
  let h = 0x811c9dc5;
  for (const ch of schema) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

function checkDefinition(def: SchemaDefinition): void {
  quoteIdent(def.schema);
  let prev = 0;
  for (const m of def.migrations) {
    if (!Number.isInteger(m.version) || m.version <= prev) {
      throw new Error(`migrations of ${def.schema} must have strictly increasing versions (at ${m.version})`);
    }
    prev = m.version;
  }
}

/**
 * Brings one schema up to date. Everything runs in a single transaction that first takes a
 * transaction-scoped advisory lock keyed by the schema, so daemons starting together apply each
 * migration exactly once and a failed migration leaves the schema as it was.
 */
export async function migrate(db: Db, def: SchemaDefinition, logger: Logger): Promise<MigrationReport> {
  checkDefinition(def);
  const s = quoteIdent(def.schema);
  const started = Date.now();
  try {
    const report = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, lockKey(def.schema)]);
      await tx.exec(
        `CREATE SCHEMA IF NOT EXISTS ${s};
         CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         );`,
      );
      const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`);
      const done = new Set(rows.map((r) => r.version));
      const known = new Set(def.migrations.map((m) => m.version));
      const unknown = [...done].filter((v) => !known.has(v));
      if (unknown.length > 0) {
        throw new StoreError(
          'FAILED_PRECONDITION',
          'SCHEMA_TOO_NEW',
          `schema ${def.schema} has migrations ${unknown.join(', ')} this build does not know; refusing to run an older daemon against a newer database`,
          { schema: def.schema, versions: unknown.join(',') },
        );
      }
      const applied: number[] = [];
      for (const m of def.migrations) {
        if (done.has(m.version)) continue;
        await tx.exec(m.sql);
        await tx.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
        applied.push(m.version);
      }
      const current = def.migrations.at(-1)?.version ?? 0;
      return { schema: def.schema, applied, current };
    });
    logger.info({ ...report, duration_ms: Date.now() - started }, 'schema migrated');
    return report;
  } catch (err) {
    const e = toStoreError(err);
    if (e.code === 'UNAVAILABLE' || e.reason === 'SCHEMA_TOO_NEW') throw e;
    throw new StoreError('INTERNAL', 'MIGRATION_FAILED', `migrating schema ${def.schema} failed: ${e.message}`, {
      schema: def.schema,
    }, { cause: err });
  }
}
