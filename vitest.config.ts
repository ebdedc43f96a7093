import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'test/cluster/**', 'node_modules/**'],
    globalSetup: ['test/setup/global.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files start daemons and fake providers; two at a time fits a 2-core machine.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
