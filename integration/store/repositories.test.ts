import { defineStoreSuite } from '@banger/store/testing';
import { PgDb } from '@banger/store';
import pino from 'pino';
import { postgresAvailability, startPostgres } from '../harness/postgres.js';

const avail = await postgresAvailability();

defineStoreSuite(
  'PostgreSQL server',
  async () => {
    const server = await startPostgres();
    const url = await server.createDatabase();
    return {
      open: async () => new PgDb({ url, logger: pino({ level: 'silent' }) }),
      dispose: () => server.dispose(),
    };
  },
  avail.ok ? {} : { skipReason: avail.reason },
);
