import pg from 'pg';
import type { Logger } from 'pino';
import type { Db, Queryable, QueryResult, Row, SqlParam } from '../db.js';
import { parseInt8 } from '../db.js';
import { toStoreError } from '../errors.js';

const INT8_OID = 20;

const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : (pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PgDbOptions {
  url: string;
  logger: Logger;
  applicationName?: string;
  /** Max pooled connections (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before failing UNAVAILABLE (default 5000 ms). */
  connectTimeoutMs?: number;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

function toResult<T>(r: pg.QueryResult): QueryResult<T> {
  return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
}

/** A checked-out client inside a transaction; nested transactions become savepoints. */
class PgTx implements Queryable {
  private savepoints = 0;
  constructor(private readonly client: pg.PoolClient) {}

  async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<T>> {
    try {
      return toResult<T>(await this.client.query(sql, params as unknown[]));
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.client.query(sql);
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const sp = `sp_${++this.savepoints}`;
    await this.exec(`SAVEPOINT ${sp}`);
    try {
      const result = await fn(this);
      await this.exec(`RELEASE SAVEPOINT ${sp}`);
      return result;
    } catch (err) {
      await this.exec(`ROLLBACK TO SAVEPOINT ${sp}`).catch(() => undefined);
      throw err;
    }
  }
}

/**
 * PostgreSQL through a pg Pool. The pool opens fresh connections on demand, so after the server
 * restarts the next query simply works; errors on idle or checked-out clients are logged, never
 * left unhandled (an unhandled 'error' event would kill the daemon).
 */
export class PgDb implements Db {
  readonly backend = 'postgres' as const;
  readonly target: string;
  private readonly pool: pg.Pool;
  private readonly log: Logger;

  constructor(opts: PgDbOptions) {
    this.target = redactUrl(opts.url);
    this.log = opts.logger;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      application_name: opts.applicationName ?? 'banger',
      types: typeParsers,
    });
    this.pool.on('error', (err) => {
      this.log.warn({ err: toStoreError(err), target: this.target }, 'idle database connection failed');
    });
  }

  async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<T>> {
    try {
      return toResult<T>(await this.pool.query(sql, params as unknown[]));
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.pool.query(sql);
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toStoreError(err);
    }
    const onError = (err: Error): void => {
      this.log.warn({ err: toStoreError(err), target: this.target }, 'database connection failed during transaction');
    };
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      try {
        await client.query('BEGIN');
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        throw toStoreError(err);
      }
      let result: T;
      try {
        result = await fn(new PgTx(client));
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
        throw err;
      }
      try {
        await client.query('COMMIT');
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        throw toStoreError(err);
      }
      return result;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.pool.ended) return;
    await this.pool.end();
  }
}
