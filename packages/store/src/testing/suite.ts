import { afterAll, beforeAll, beforeEach, describe } from 'vitest';
import type { Db } from '../db.js';
import type { StoreFixture, StoreFixtureFactory, SuiteContext } from './context.js';
import { migrateAll, resetAll } from './context.js';
import { dbTests } from './suite-db.js';
import { imageTests } from './suite-images.js';
import { operationTests } from './suite-operations.js';
import { vmTests } from './suite-vms.js';

/**
 * The repository tests every backend must pass. One database per backend, migrated for both
 * daemons' schemas and emptied before each test (cheaper than a new cluster per test).
 */
export function defineStoreSuite(label: string, factory: StoreFixtureFactory, opts: { skipReason?: string } = {}): void {
  if (opts.skipReason) console.warn(`SKIPPED store on ${label}: ${opts.skipReason}`);
  describe.skipIf(opts.skipReason !== undefined)(`store on ${label}`, () => {
    let fixture: StoreFixture | undefined;
    let current: Db | undefined;

    beforeAll(async () => {
      fixture = await factory();
      current = await fixture.open();
      await migrateAll(current);
    }, 120_000);

    beforeEach(async () => {
      if (!current) throw new Error('no database open');
      await resetAll(current);
    });

    afterAll(async () => {
      await current?.close();
      current = undefined;
      await fixture?.dispose();
      fixture = undefined;
    });

    const ctx: SuiteContext = {
      db() {
        if (!current) throw new Error('no database open');
        return current;
      },
      async restart() {
        if (!fixture) throw new Error('no fixture');
        const previous = current;
        current = undefined;
        await previous?.close();
        current = await fixture.open();
        await migrateAll(current);
        return current;
      },
    };

    dbTests(ctx);
    vmTests(ctx);
    imageTests(ctx);
    operationTests(ctx);
  });
}
