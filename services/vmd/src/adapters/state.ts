import type { BangerConfig } from '@banger/config';
import { databaseDataDir } from '@banger/config';
import { migrate, openDb, OperationStore, vmdSchema, type Db, type Operation } from '@banger/store';
import type { Logger } from 'pino';
import { recoverInterrupted } from '@banger/operations';

export interface VmdState {
  db: Db;
  operations: OperationStore;
  /** Operations a previous process left running, now failed INTERRUPTED, with their resources. */
  interrupted: Operation[];
}

/**
 * Opens vmd's database (PostgreSQL when `database.url` is set, else the embedded one under the
 * state dir), migrates its schema and closes out operations a previous process left running.
 * Runs before the socket is served; any failure stops the start-up.
 */
export async function openVmdState(config: BangerConfig, logger: Logger): Promise<VmdState> {
  const db = await openDb({ url: config.database.url, dataDir: databaseDataDir(config, 'vmd'), logger, applicationName: 'banger-vmd' });
  try {
    await migrate(db, vmdSchema, logger);
    const operations = new OperationStore(db, { schema: 'vmd' });
    const interrupted = await recoverInterrupted(operations, logger);
    return { db, operations, interrupted };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}
