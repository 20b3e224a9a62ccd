import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites measure event-loop delay and spawn child processes: run files one at a time so they
    // do not steal each other's two cores.
    fileParallelism: false,
    pool: 'forks',
  },
});
