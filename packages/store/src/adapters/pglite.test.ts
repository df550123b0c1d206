import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../open.js';
import { silentLogger } from '../testing/context.js';
import { StoreError } from '../errors.js';

describe('embedded backend', () => {
  const root = mkdtempSync(join(tmpdir(), 'banger-pglite-lock-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is the default without a url, and refuses a second opener of the same directory', async () => {
    const dataDir = join(root, 'db', 'vmd');
    const db = await openDb({ dataDir, logger: silentLogger });
    try {
      expect(db.backend).toBe('pglite');
      expect(db.target).toBe(dataDir);
      const err = await openDb({ dataDir, logger: silentLogger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'DATABASE_LOCKED' });
    } finally {
      await db.close();
    }
    const reopened = await openDb({ dataDir, logger: silentLogger });
    await reopened.close();
    const closed = await reopened.query('SELECT 1').catch((e: unknown) => e);
    expect(closed).toMatchObject({ code: 'UNAVAILABLE', reason: 'STORE_CLOSED' });
  }, 60_000);
});
