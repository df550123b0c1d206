import type { BangerConfig } from '@banger/config';
import { databaseDataDir } from '@banger/config';
import { imagedSchema, migrate, openDb, OperationStore, type Db } from '@banger/store';
import type { Logger } from 'pino';
import { recoverInterrupted } from '@banger/operations';

export interface ImagedState {
  db: Db;
  operations: OperationStore;
}

/**
 * Opens imaged's database (PostgreSQL when `database.url` is set, else the embedded one under
 * the state dir), migrates its schema and closes out operations a previous process left
 * running. Runs before the socket is served; any failure stops the start-up.
 */
export async function openImagedState(config: BangerConfig, logger: Logger): Promise<ImagedState> {
  const db = await openDb({ url: config.database.url, dataDir: databaseDataDir(config, 'imaged'), logger, applicationName: 'banger-imaged' });
  try {
    await migrate(db, imagedSchema, logger);
    const operations = new OperationStore(db, { schema: 'imaged' });
    await recoverInterrupted(operations, logger);
    return { db, operations };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}
