/** Values the adapters know how to send; jsonb goes as a JSON string with an explicit `::jsonb` cast. */
export type SqlParam =
  | string
  | number
  | boolean
  | null
  | Date
  | bigint
  | readonly string[]
  | readonly number[];

export type Row = Record<string, unknown>;

export interface QueryResult<T> {
  rows: T[];
  /** Rows returned or affected (INSERT/UPDATE/DELETE without RETURNING included). */
  rowCount: number;
}

/** `postgres`: an external server (`[database] url`); `embedded-postgres`: the daemon's private cluster; `pglite`: tests. */
export type Backend = 'postgres' | 'embedded-postgres' | 'pglite';

/**
 * What repositories need from a database, whatever runs it. Both backends return the same JS
 * types: int8/count as number (bigint only beyond 2^53), timestamptz as Date, jsonb parsed,
 * inet/text as string; and both throw only StoreError.
 */
export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>>;
  /** Runs one or more `;`-separated statements without parameters (DDL, migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Commits when `fn` resolves, rolls back when it throws and rethrows that error unchanged (so
   * domain errors survive); nested calls use savepoints.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

/** The store's port: one per daemon process, closed on shutdown. */
export interface Db extends Queryable {
  readonly backend: Backend;
  /** Where the data lives, safe to log (passwords redacted). */
  readonly target: string;
  close(): Promise<void>;
}

/** Parses int8 text the same way on both backends. */
export function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid SQL identifier: ${name}`);
  return `"${name}"`;
}
