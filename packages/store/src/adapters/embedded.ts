import type { Logger } from 'pino';
import type { Db, Queryable, QueryResult, Row, SqlParam } from '../db.js';
import { EmbeddedCluster } from './cluster.js';
import { PgDb } from './pg.js';

export interface EmbeddedDbOptions {
  /** The daemon's cluster directory, e.g. `<state_dir>/db/vmd-postgres`. */
  dataDir: string;
  logger: Logger;
  applicationName?: string;
  poolSize?: number;
  /** Root of the server packages (tests); default /usr/lib/postgresql. */
  pgRoot?: string;
}

/** The zero-setup default: PgDb over the daemon's private cluster, which it stops on close. */
export class EmbeddedDb implements Db {
  readonly backend = 'embedded-postgres' as const;
  readonly target: string;

  private constructor(
    private readonly cluster: EmbeddedCluster,
    private readonly db: PgDb,
  ) {
    this.target = `${cluster.dataDir} (pid ${cluster.postmasterPid})`;
  }

  static async open(opts: EmbeddedDbOptions): Promise<EmbeddedDb> {
    const cluster = await EmbeddedCluster.start({ dataDir: opts.dataDir, logger: opts.logger, ...(opts.pgRoot === undefined ? {} : { pgRoot: opts.pgRoot }) });
    const db = new PgDb({
      url: cluster.url,
      logger: opts.logger,
      ...(opts.applicationName === undefined ? {} : { applicationName: opts.applicationName }),
      ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
    });
    return new EmbeddedDb(cluster, db);
  }

  /** The postmaster: the process that owns this database. */
  get postmasterPid(): number {
    return this.cluster.postmasterPid;
  }

  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>> {
    return this.db.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.db.exec(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.cluster.stop();
    }
  }
}
