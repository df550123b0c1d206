import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import { migrate } from '../migrate.js';
import { vmdSchema } from '../schemas/vmd.js';
import type { SuiteContext } from './context.js';
import { rejection, silentLogger } from './context.js';

export function dbTests(ctx: SuiteContext): void {
  describe('Db port', () => {
    it('normalises value types the same way on every backend', async () => {
      const { rows } = await ctx.db().query(
        `SELECT count(*) AS n, 9007199254740993::int8 AS big, 42::int8 AS small, now() AS at,
                '{"a":[1,2]}'::jsonb AS j, '10.1.2.3'::inet AS ip, 1.5::numeric AS num`,
      );
      const r = rows[0] ?? {};
      expect(r['n']).toBe(1);
      expect(r['small']).toBe(42);
      expect(r['big']).toBe(9007199254740993n);
      expect(r['at']).toBeInstanceOf(Date);
      expect(r['j']).toEqual({ a: [1, 2] });
      expect(r['ip']).toBe('10.1.2.3');
      expect(r['num']).toBe('1.5');
    });

    it('runs multi-statement exec and reports affected rows', async () => {
      const db = ctx.db();
      await db.exec('CREATE TABLE scratch.t_exec (x int); INSERT INTO scratch.t_exec VALUES (1), (2), (3);');
      const upd = await db.query('UPDATE scratch.t_exec SET x = x + 1 WHERE x > $1', [1]);
      expect(upd.rowCount).toBe(2);
      const sel = await db.query<{ x: number }>('SELECT x FROM scratch.t_exec ORDER BY x');
      expect(sel.rows.map((r) => r.x)).toEqual([1, 3, 4]);
    });

    it('rolls back a failed transaction and keeps a released savepoint', async () => {
      const db = ctx.db();
      await db.exec('CREATE TABLE scratch.t_tx (x int PRIMARY KEY)');
      const boom = new Error('boom');
      const err = await rejection(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO scratch.t_tx VALUES (1)');
          throw boom;
        }),
      );
      expect(err).toBe(boom);
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO scratch.t_tx VALUES (2)');
        await rejection(
          tx.transaction(async (inner) => {
            await inner.query('INSERT INTO scratch.t_tx VALUES (3)');
            await inner.query('INSERT INTO scratch.t_tx VALUES (2)');
          }),
        );
        await tx.transaction(async (inner) => inner.query('INSERT INTO scratch.t_tx VALUES (4)'));
      });
      const { rows } = await db.query<{ x: number }>('SELECT x FROM scratch.t_tx ORDER BY x');
      expect(rows.map((r) => r.x)).toEqual([2, 4]);
    });

    it('maps unique violations to ALREADY_EXISTS with the field and value', async () => {
      const db = ctx.db();
      await db.exec('CREATE TABLE scratch.t_u (id int PRIMARY KEY, name text UNIQUE)');
      await db.query('INSERT INTO scratch.t_u VALUES (1, $1)', ['web']);
      const err = await rejection(db.query('INSERT INTO scratch.t_u VALUES (2, $1)', ['web']));
      expect(err).toBeInstanceOf(StoreError);
      const e = err as StoreError;
      expect([e.code, e.reason]).toEqual(['ALREADY_EXISTS', 'DUPLICATE_KEY']);
      expect(e.fields).toMatchObject({ field: 'name', value: 'web', constraint: 't_u_name_key' });
      const bad = (await rejection(db.query("SELECT 'x'::int"))) as StoreError;
      expect([bad.code, bad.reason]).toEqual(['INVALID_ARGUMENT', 'INVALID_VALUE']);
    });
  });

  describe('migrations', () => {
    const base = {
      schema: 'mig_test',
      migrations: [
        { version: 1, name: 'items', sql: 'CREATE TABLE mig_test.items (id int PRIMARY KEY)' },
        { version: 2, name: 'label', sql: "ALTER TABLE mig_test.items ADD COLUMN label text NOT NULL DEFAULT ''" },
      ],
    };

    it('applies pending versions once, records them, and is a no-op when up to date', async () => {
      const db = ctx.db();
      expect((await migrate(db, base, silentLogger)).applied).toEqual([1, 2]);
      const again = await migrate(db, base, silentLogger);
      expect(again).toEqual({ schema: 'mig_test', applied: [], current: 2 });
      const { rows } = await db.query<{ version: number; name: string }>(
        'SELECT version, name FROM mig_test.schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => [r.version, r.name])).toEqual([[1, 'items'], [2, 'label']]);
      const vmd = await migrate(db, vmdSchema, silentLogger);
      expect(vmd.applied).toEqual([]);
      expect(vmd.current).toBe(vmdSchema.migrations.at(-1)?.version);
    });

    it('applies only new migrations, and refuses a database newer than the code', async () => {
      const db = ctx.db();
      await migrate(db, { ...base, migrations: base.migrations.slice(0, 1) }, silentLogger);
      expect((await migrate(db, base, silentLogger)).applied).toEqual([2]);
      const err = (await rejection(migrate(db, { ...base, migrations: base.migrations.slice(0, 1) }, silentLogger))) as StoreError;
      expect([err.code, err.reason, err.fields['versions']]).toEqual(['FAILED_PRECONDITION', 'SCHEMA_TOO_NEW', '2']);
    });

    it('leaves the schema untouched when a migration fails', async () => {
      const db = ctx.db();
      const broken = {
        schema: 'mig_test',
        migrations: [...base.migrations, { version: 3, name: 'bad', sql: 'ALTER TABLE mig_test.nope ADD COLUMN y int' }],
      };
      const err = (await rejection(migrate(db, broken, silentLogger))) as StoreError;
      expect([err.code, err.reason]).toEqual(['INTERNAL', 'MIGRATION_FAILED']);
      const { rows } = await db.query("SELECT to_regclass('mig_test.items') AS t");
      expect(rows[0]?.['t']).toBeNull();
    });

    it('rejects versions that do not increase', async () => {
      const bad = { schema: 'mig_test', migrations: [base.migrations[1], base.migrations[0]].filter((m) => m !== undefined) };
      await expect(migrate(ctx.db(), bad, silentLogger)).rejects.toThrow(/strictly increasing/);
    });
  });
}
