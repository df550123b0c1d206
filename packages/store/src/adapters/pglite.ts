import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Transaction } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import type { Db, Queryable, QueryResult, Row, SqlParam } from '../db.js';
import { parseInt8 } from '../db.js';
import { StoreError, toStoreError } from '../errors.js';
import { pidAlive } from './pid-alive.js';

const INT8_OID = 20;

export interface PgliteDbOptions {
  /** Directory holding the embedded cluster; created when missing. */
  dataDir: string;
  logger: Logger;
}

type Target = Pick<Transaction, 'query' | 'exec'>;

function toResult<T>(r: { rows: unknown[]; affectedRows?: number }): QueryResult<T> {
  return { rows: r.rows as T[], rowCount: r.rows.length > 0 ? r.rows.length : (r.affectedRows ?? 0) };
}

class PgliteTx implements Queryable {
  private savepoints = 0;
  constructor(private readonly tx: Target) {}

  async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<T>> {
    try {
      return toResult<T>(await this.tx.query(sql, params as unknown[]));
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.tx.exec(sql);
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
 * PGlite has no multi-process protection and two writers corrupt the cluster, so the data
 * directory is guarded by a pid file next to it.
 */
function acquireDirLock(lockPath: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toStoreError(err);
      const pid = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
        throw new StoreError(
          'FAILED_PRECONDITION',
          'DATABASE_LOCKED',
          `embedded database ${dirname(lockPath)} is in use by process ${pid}`,
          { path: lockPath, pid: String(pid) },
        );
      }
      unlinkSync(lockPath);
    }
  }
  throw new StoreError('FAILED_PRECONDITION', 'DATABASE_LOCKED', `cannot lock ${lockPath}`, { path: lockPath });
}

/** Embedded PostgreSQL (WASM) in a data directory: the zero-setup default backend. */
export class PgliteDb implements Db {
  readonly backend = 'pglite' as const;
  readonly target: string;
  private closed = false;

  private constructor(
    private readonly pg: PGlite,
    private readonly lockPath: string,
    private readonly root: PgliteTx,
  ) {
    this.target = pg.dataDir ?? 'memory';
  }

  static async open(opts: PgliteDbOptions): Promise<PgliteDb> {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const lockPath = `${opts.dataDir}.lock`;
    acquireDirLock(lockPath);
    try {
      const pg = await PGlite.create(opts.dataDir, { parsers: { [INT8_OID]: parseInt8 } });
      return new PgliteDb(pg, lockPath, new PgliteTx(pg));
    } catch (err) {
      unlinkSync(lockPath);
      throw toStoreError(err);
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('UNAVAILABLE', 'STORE_CLOSED', 'store is closed');
  }

  async query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<T>> {
    this.ensureOpen();
    return this.root.query<T>(sql, params);
  }

  async exec(sql: string): Promise<void> {
    this.ensureOpen();
    return this.root.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.ensureOpen();
    let callbackFailed = false;
    try {
      return await this.pg.transaction(async (tx) => {
        try {
          return await fn(new PgliteTx(tx));
        } catch (err) {
          callbackFailed = true;
          throw err;
        }
      });
    } catch (err) {
      throw callbackFailed ? err : toStoreError(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pg.close();
    } finally {
      try {
        unlinkSync(this.lockPath);
      } catch {
        // already gone: nothing to release
      }
    }
  }
}
