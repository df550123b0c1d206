import type { Logger } from 'pino';
import type { Db } from './db.js';
import { PgDb } from './adapters/pg.js';
import { EmbeddedDb } from './adapters/embedded.js';

export interface OpenDbOptions {
  /** PostgreSQL connection string; empty or absent selects the embedded backend. */
  url?: string;
  /** Cluster directory of the embedded backend, e.g. `<state_dir>/db/vmd-postgres`. */
  dataDir?: string;
  logger: Logger;
  applicationName?: string;
  poolSize?: number;
}

/**
 * Picks the backend from configuration and logs which one is in use, so an operator can tell
 * from the daemon's start-up line where its state lives.
 */
export async function openDb(opts: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (opts.url) {
    db = new PgDb({
      url: opts.url,
      logger: opts.logger,
      ...(opts.applicationName === undefined ? {} : { applicationName: opts.applicationName }),
      ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
    });
  } else if (opts.dataDir) {
    db = await EmbeddedDb.open({
      dataDir: opts.dataDir,
      logger: opts.logger,
      ...(opts.applicationName === undefined ? {} : { applicationName: opts.applicationName }),
      ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
    });
  } else {
    throw new Error('openDb: either url or dataDir is required');
  }
  opts.logger.info({ backend: db.backend, target: db.target }, 'database opened');
  return db;
}
