import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../open.js';
import { silentLogger } from '../testing/context.js';
import { StoreError } from '../errors.js';
import { PgliteDb } from './pglite.js';

describe('PGlite backend (tests)', () => {
  const root = mkdtempSync(join(tmpdir(), 'banger-pglite-lock-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a second opener of the same directory', async () => {
    const dataDir = join(root, 'db', 'vmd');
    const db = await PgliteDb.open({ dataDir, logger: silentLogger });
    try {
      expect(db.backend).toBe('pglite');
      expect(db.target).toBe(dataDir);
      const err = await PgliteDb.open({ dataDir, logger: silentLogger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'DATABASE_LOCKED' });
    } finally {
      await db.close();
    }
    const reopened = await PgliteDb.open({ dataDir, logger: silentLogger });
    await reopened.close();
    const closed = await reopened.query('SELECT 1').catch((e: unknown) => e);
    expect(closed).toMatchObject({ code: 'UNAVAILABLE', reason: 'STORE_CLOSED' });
  }, 60_000);
});

describe('embedded default (a private PostgreSQL cluster; integration/faults/durability.test.ts runs it)', () => {
  it.skipIf(process.geteuid?.() !== 0)('is what openDb picks without a url, and as root it refuses before creating anything', async () => {
    const dataDir = join(tmpdir(), `banger-embedded-root-${process.pid}`, 'vmd-postgres');
    const err = await openDb({ dataDir, logger: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'EMBEDDED_DB_AS_ROOT' });
    await expect(import('node:fs').then((fs) => fs.existsSync(dataDir))).resolves.toBe(false);
  });
});
