import type { Logger } from 'pino';
import type { Db, Queryable, QueryResult, Row, SqlParam } from '../db.js';
import { StoreError } from '../errors.js';
import { EmbeddedCluster } from './cluster.js';
import { PgDb } from './pg.js';
import { pidAlive } from './pid-alive.js';

export interface EmbeddedDbOptions {
  /** The daemon's cluster directory, e.g. `<state_dir>/db/vmd-postgres`. */
  dataDir: string;
  logger: Logger;
  applicationName?: string;
  poolSize?: number;
  /** Root of the server packages (tests); default /usr/lib/postgresql. */
  pgRoot?: string;
}

/** How long a restart of a dead postmaster may take (its orphaned backends must exit first). */
const REVIVE_TIMEOUT_MS = 30_000;

/**
 * The zero-setup default: PgDb over the daemon's private cluster, which it stops on close.
 * Crash-only: when the postmaster dies under a running daemon (SIGKILL, OOM), the query that
 * found it gone fails UNAVAILABLE as usual and the cluster is started again (crash recovery
 * replays its WAL), so the daemon serves again without a restart of its own.
 */
export class EmbeddedDb implements Db {
  readonly backend = 'embedded-postgres' as const;
  private reviving: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private cluster: EmbeddedCluster,
    private readonly db: PgDb,
    private readonly opts: EmbeddedDbOptions,
  ) {}

  static async open(opts: EmbeddedDbOptions): Promise<EmbeddedDb> {
    const cluster = await EmbeddedDb.startCluster(opts);
    const db = new PgDb({
      url: cluster.url,
      logger: opts.logger,
      ...(opts.applicationName === undefined ? {} : { applicationName: opts.applicationName }),
      ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
    });
    return new EmbeddedDb(cluster, db, opts);
  }

  private static startCluster(opts: EmbeddedDbOptions, startTimeoutMs?: number): Promise<EmbeddedCluster> {
    return EmbeddedCluster.start({
      dataDir: opts.dataDir,
      logger: opts.logger,
      ...(opts.pgRoot === undefined ? {} : { pgRoot: opts.pgRoot }),
      ...(startTimeoutMs === undefined ? {} : { startTimeoutMs }),
    });
  }

  get target(): string {
    return `${this.cluster.dataDir} (pid ${this.cluster.postmasterPid})`;
  }

  /** The postmaster: the process that owns this database. */
  get postmasterPid(): number {
    return this.cluster.postmasterPid;
  }

  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    return this.guard(() => this.db.query<T>(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.guard(() => this.db.exec(sql));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.guard(() => this.db.transaction(fn));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reviving?.catch(() => undefined);
    try {
      await this.db.close();
    } finally {
      await this.cluster.stop();
    }
  }

  /** A failure is never retried (its outcome is unknown); a dead postmaster is restarted before the error goes on. */
  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof StoreError && err.reason === 'DATABASE_UNAVAILABLE' && !this.closed && !pidAlive(this.cluster.postmasterPid)) {
        await this.revive().catch((e: unknown) => this.opts.logger.error({ err: e, dataDir: this.opts.dataDir }, 'embedded database restart failed'));
      }
      throw err;
    }
  }

  private revive(): Promise<void> {
    this.reviving ??= (async () => {
      const dead = this.cluster.postmasterPid;
      this.opts.logger.warn({ dataDir: this.opts.dataDir, pid: dead }, 'embedded database postmaster died; starting it again');
      const deadline = Date.now() + REVIVE_TIMEOUT_MS;
      for (;;) {
        try {
          this.cluster = await EmbeddedDb.startCluster(this.opts, Math.max(1000, deadline - Date.now()));
          this.opts.logger.info({ dataDir: this.opts.dataDir, pid: this.cluster.postmasterPid, previous: dead }, 'embedded database restarted after its postmaster died');
          return;
        } catch (err) {
          // The dead postmaster's backends may still hold its shared memory for a moment.
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    })().finally(() => (this.reviving = undefined));
    return this.reviving;
  }
}
