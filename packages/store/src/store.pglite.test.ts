import { pgliteFixture } from './testing/pglite-fixture.js';
import { defineStoreSuite } from './testing/suite.js';

defineStoreSuite('embedded PGlite', async () => pgliteFixture());
