import { OperationStore, PgDb, StoreError, VmStore, migrate, vmdSchema } from '@banger/store';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresServer } from '../harness/postgres.js';
import { postgresAvailability, startPostgres } from '../harness/postgres.js';

const avail = await postgresAvailability();
if (!avail.ok) console.warn(`SKIPPED store restart tests: ${avail.reason}`);

function capturingLogger(): { logger: pino.Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        messages.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  return { logger, messages };
}

describe.skipIf(!avail.ok)('store across a PostgreSQL restart', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    server = await startPostgres();
  });

  afterAll(async () => {
    await server?.dispose();
  });

  it('fails UNAVAILABLE while the server is down and recovers on the same pool', async () => {
    const url = await server.createDatabase();
    const { logger, messages } = capturingLogger();
    const db = new PgDb({ url, logger, connectTimeoutMs: 2000 });
    try {
      await migrate(db, vmdSchema, logger);
      const vms = new VmStore(db);
      const ops = new OperationStore(db, { schema: 'vmd' });
      await vms.insert({ id: 'v1', name: 'before', state: 'running', imageId: 'i', vcpus: 1, memoryMib: 256, workDiskGib: 1 });
      await ops.create('op-1', 'vm.create', 'before');
      // Several idle pooled connections that the shutdown will kill under the pool's feet.
      await Promise.all(Array.from({ length: 3 }, () => db.query('SELECT pg_sleep(0.05)')));

      await server.stop();
      for (const attempt of [() => vms.getById('v1'), () => ops.appendEvent('op-1', { stage: 'x' }), () => db.transaction((tx) => tx.query('SELECT 1'))]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toMatchObject({ code: 'UNAVAILABLE', reason: 'DATABASE_UNAVAILABLE' });
      }
      expect(messages).toContain('idle database connection failed');

      await server.start();
      expect((await vms.getById('v1')).name).toBe('before');
      await vms.insert({ id: 'v2', name: 'after', state: 'creating', imageId: 'i', vcpus: 1, memoryMib: 256, workDiskGib: 1 });
      expect((await ops.appendEvent('op-1', { stage: 'after-restart' })).seq).toBe(1);
      expect((await vms.list()).map((v) => v.name)).toEqual(['after', 'before']);
    } finally {
      await db.close();
    }
  });
});
