import { defineConfig } from 'vitest/config';

// The cluster suite: starts its own 3x2 Redis Cluster, so it runs apart from `npm test`.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
