import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PgDb, StoreError, VmStore, imagedSchema, migrate, vmdSchema } from '@banger/store';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresServer } from '../harness/postgres.js';
import { postgresAvailability, startPostgres } from '../harness/postgres.js';

const avail = await postgresAvailability();
if (!avail.ok) console.warn(`SKIPPED store concurrency tests: ${avail.reason}`);

const silent = pino({ level: 'silent' });
const CHILD = fileURLToPath(new URL('./fixtures/migrate-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ChildRun {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<{ vmd: number[]; imaged: number[] }>;
}

function startChild(url: string): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) onReady();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const result = new Promise<{ vmd: number[]; imaged: number[] }>((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as { vmd: number[]; imaged: number[] });
      else reject(new Error(`migrate child exited ${String(code)}: ${err.trim()}`));
    });
  });
  return { child, ready, result };
}

describe.skipIf(!avail.ok)('store concurrency on PostgreSQL', () => {
  let server: PostgresServer;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    server = await startPostgres();
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
    await server?.dispose();
  });

  it('two processes migrating the same database at once apply each migration exactly once', async () => {
    for (let round = 0; round < 3; round++) {
      const url = await server.createDatabase();
      const runs = [startChild(url), startChild(url)];
      children.push(...runs.map((r) => r.child));
      await Promise.all(runs.map((r) => r.ready));
      for (const r of runs) r.child.stdin?.write('go\n');
      const results = await Promise.all(runs.map((r) => r.result));
      const all = vmdSchema.migrations.map((m) => m.version);
      expect(results.map((r) => r.vmd).sort((a, b) => b.length - a.length)).toEqual([all, []]);
      expect(results.map((r) => r.imaged.length).sort()).toEqual([0, imagedSchema.migrations.length]);
      const db = new PgDb({ url, logger: silent });
      try {
        const { rows } = await db.query<{ version: number; n: number }>(
          'SELECT version, count(*) AS n FROM vmd.schema_migrations GROUP BY version ORDER BY version',
        );
        expect(rows).toEqual(all.map((version) => ({ version, n: 1 })));
      } finally {
        await db.close();
      }
    }
  });

  it('concurrent creates of one VM name from separate pools: exactly one wins', async () => {
    const url = await server.createDatabase();
    const pools = Array.from({ length: 4 }, () => new PgDb({ url, logger: silent, poolSize: 4 }));
    try {
      await migrate(pools[0] as PgDb, vmdSchema, silent);
      const attempts = pools.flatMap((db, p) =>
        Array.from({ length: 4 }, (_, i) =>
          new VmStore(db).insert({
            id: `vm-${p}-${i}`,
            name: 'contended',
            state: 'creating',
            imageId: 'img',
            vcpus: 1,
            memoryMib: 256,
            workDiskGib: 1,
          }),
        ),
      );
      const results = await Promise.allSettled(attempts);
      const winners = results.filter((r) => r.status === 'fulfilled');
      const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(15);
      for (const l of losers) {
        expect(l.reason).toBeInstanceOf(StoreError);
        expect(l.reason).toMatchObject({ code: 'ALREADY_EXISTS', reason: 'VM_NAME_TAKEN', fields: { field: 'name' } });
      }
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });
});
