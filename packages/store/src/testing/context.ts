import pino from 'pino';
import type { Db } from '../db.js';
import { migrate } from '../migrate.js';
import { imagedSchema } from '../schemas/imaged.js';
import { vmdSchema } from '../schemas/vmd.js';

/** One database per backend; `open` may be called again after close to model a restart. */
export interface StoreFixture {
  open(): Promise<Db>;
  dispose(): Promise<void>;
}

export type StoreFixtureFactory = () => Promise<StoreFixture>;

export interface SuiteContext {
  db(): Db;
  /** Closes the current Db and opens the same database again, migrated: a daemon restart. */
  restart(): Promise<Db>;
}

export const silentLogger = pino({ level: 'silent' });

export async function migrateAll(db: Db): Promise<void> {
  await migrate(db, vmdSchema, silentLogger);
  await migrate(db, imagedSchema, silentLogger);
}

/** Empties every table of both schemas and drops scratch schemas the tests create. */
export async function resetAll(db: Db): Promise<void> {
  const { rows } = await db.query<{ t: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
     WHERE schemaname IN ('vmd', 'imaged') AND tablename <> 'schema_migrations'`,
  );
  const tables = rows.map((r) => r.t).join(', ');
  await db.exec(
    `${tables ? `TRUNCATE ${tables} CASCADE;` : ''}
     DROP SCHEMA IF EXISTS scratch CASCADE; CREATE SCHEMA scratch; DROP SCHEMA IF EXISTS mig_test CASCADE;`,
  );
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
