export type { StoreFixture, StoreFixtureFactory, SuiteContext } from './context.js';
export { migrateAll, silentLogger } from './context.js';
export { defineStoreSuite } from './suite.js';
export { pgliteFixture } from './pglite-fixture.js';
