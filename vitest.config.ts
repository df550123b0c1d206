import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests next to the code, and integration tests that start real
// processes, databases, network namespaces and VMs. `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'clients/*/src/**/*.test.ts',
          ],
          testTimeout: 20_000,
          // Opening an embedded PGlite and migrating it takes over 10 s on two loaded cores.
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['integration/**/*.test.ts'],
          // Daemons and the CLI run compiled, as in production: build them first.
          globalSetup: ['integration/harness/build.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // Real VMs and namespaces share two cores; run files one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
