import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteDb } from '../adapters/pglite.js';
import type { StoreFixture } from './context.js';
import { silentLogger } from './context.js';

/** An embedded database in a fresh temp dir, removed on dispose. */
export function pgliteFixture(): StoreFixture {
  const root = mkdtempSync(join(tmpdir(), 'banger-pglite-'));
  const dataDir = join(root, 'data');
  return {
    open: () => PgliteDb.open({ dataDir, logger: silentLogger }),
    dispose: async () => rmSync(root, { recursive: true, force: true }),
  };
}
