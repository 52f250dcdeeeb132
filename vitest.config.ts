import { defineConfig } from 'vitest/config';

// Tests start real redis-server processes and the embedded ClickHouse engine (one per process and
// data directory), so files run in separate forks and never share a data directory. The build in
// dist/ is brought up to date first: processes and workers the tests start run compiled code.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'core/**/*.test.ts', 'proxy/**/*.test.ts', 'analyser/**/*.test.ts', 'dashboards/**/*.test.ts', 'cli/**/*.test.ts'],
    globalSetup: ['./test/helpers/build-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
