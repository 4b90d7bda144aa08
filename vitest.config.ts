import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (pure, no privileges) and `kernel` (*.kernel.test.ts: real namespaces, real iptables,
 * real packets; needs root, which CI has). Tests import the packages by name, i.e. their built dist/, which is
 * also what the lab spawns: `npm test` builds first.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'e2e/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.kernel.test.ts', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['packages/*/test/**/*.kernel.test.ts', 'e2e/*/test/**/*.kernel.test.ts'],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Each file builds its own namespaces; two at a time keeps a 2-core machine responsive.
          maxWorkers: 2,
          // After the unit tests: a broken planner fails fast, before any namespace is built.
          sequence: { groupOrder: 1 },
          globalSetup: ['e2e/lab/test/require-root.ts'],
        },
      },
    ],
  },
});
