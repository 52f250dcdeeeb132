import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// The analyser inside `fairwatch start`: its schedule is reported at start, and CLI commands that
// need the store are carried out by the running primary (same output as standalone).

const tmp = tempDir('fw-analyser-start-');
afterAll(() => tmp.cleanup());

describe('analyser in `fairwatch start`', () => {
  it('announces its schedule, records baselines, and runs `reports run` / `import squid-log` for the CLI', async () => {
    const cfg = join(tmp.dir, 'fairwatch.yaml');
    writeFileSync(cfg, 'retention: { eventsDays: 3650 }\nproxy: { port: 0 }\nconsole: { port: 0 }\n');
    const env = { FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '../fixtures/blocklists'), FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0' };
    const primary = startCli(['start'], { env, timeoutMs: 120_000 });
    try {
      await primary.ready;
      expect(primary.output().stdout).toContain('analyser: audits (15 1 * * * / 30 1 * * 1 / 45 1 1 * *), spot check (0 2 * * 1) in Europe/London');
      const imp = await runCli(['import', 'squid-log', join(import.meta.dirname, '../fixtures/squid/access.log')], { env, timeoutMs: 120_000 });
      expect(imp.stdout).toBe('imported 8 events from 12 lines (0 already imported, 4 bad lines)\n');
      const run = await runCli(['reports', 'run', 'spot-check', '--from', '2026-02-16T00:00:00Z', '--to', '2026-02-23T00:00:00Z'], { env, timeoutMs: 120_000 });
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
      const list = await runCli(['reports', 'list', '--json'], { env, timeoutMs: 120_000 });
      expect(list.stdout.trim().split('\n').map((l) => JSON.parse(l).id)).toContain(run.stdout.trim());
      // the catch-up at start recorded a baseline for every scheduled job
      let runs = '';
      for (let i = 0; i < 30 && !/baseline.*\n.*baseline.*\n.*baseline.*\n.*baseline/s.test(runs); i++) {
        runs = (await runCli(['reports', 'runs'], { env, timeoutMs: 120_000 })).stdout;
      }
      for (const job of ['nightly-audit', 'weekly-audit', 'monthly-audit', 'spot-check']) expect(runs).toMatch(new RegExp(`${job} .* baseline +skipped`));
      expect(runs).toMatch(/on-demand-spot-check .* on-demand ok/);
    } finally {
      expect(await primary.stop()).toBe(0);
    }
  }, 300_000);
});
