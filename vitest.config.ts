import { defineConfig } from 'vitest/config';

/**
 * The projects:
 * - `unit`: pure, no privileges.
 * - `kernel` (*.kernel.test.ts): real namespaces, real iptables, real packets; needs root, which CI has.
 * - `vm` (*.vm.test.ts): boots Debian's kernel under qemu and runs `vm-guest` inside it (IPVS).
 * - `vm-guest` (*.guest.test.ts): only inside that VM.
 * - `release` (*.release.test.ts): the release rehearsed against a local verdaccio; root (it loads the BPF object).
 * - `kind` (*.kind.test.ts): a kind cluster; needs Docker, kind and kubectl (`npm run test:kind`, not in `npm test`).
 * Tests import the packages by name, i.e. their built dist/, which is also what the lab spawns: `npm test` builds first.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'e2e/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.kernel.test.ts', '**/*.release.test.ts', '**/node_modules/**'],
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
      {
        test: {
          name: 'vm',
          include: ['e2e/vm/**/*.vm.test.ts'],
          testTimeout: 1_200_000,
          hookTimeout: 1_200_000,
          sequence: { groupOrder: 2 },
          globalSetup: ['e2e/lab/test/require-root.ts'],
        },
      },
      {
        test: {
          name: 'release',
          include: ['test/**/*.release.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // Last: its publish runs nx's build targets, which rewrite the dist/ that the other lanes run.
          sequence: { groupOrder: 4 },
          globalSetup: ['e2e/lab/test/require-root.ts'],
        },
      },
      {
        test: {
          name: 'vm-guest',
          include: ['e2e/vm/guest/**/*.guest.test.ts'],
          pool: 'forks',
          maxWorkers: 1,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 3 },
          globalSetup: ['e2e/lab/test/require-root.ts'],
        },
      },
      {
        test: {
          name: 'kind',
          include: ['e2e/kind/**/*.kind.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          sequence: { groupOrder: 4 },
        },
      },
    ],
  },
});
