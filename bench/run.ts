// `npm run bench [-- NAME …]`: runs the benchmarks one after another, each in its own process (the
// embedded engine allows one data directory per process), and prints their output. Every benchmark
// measures its own baseline in the same run and prints ratios against it.
//
//   npm run bench                      # all of them (tens of minutes on 2 cores)
//   npm run bench -- policy proxy      # only these
//   BENCH_ARGS_ingest="--quick" npm run bench -- ingest
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ALL = ['policy', 'proxy', 'scan', 'ingest', 'analyser', 'pages', 'console', 'backup'] as const;
const asked = process.argv.slice(2);
const unknown = asked.filter((n) => !(ALL as readonly string[]).includes(n));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}: choose from ${ALL.join(', ')}`);
  process.exit(2);
}
const names = asked.length ? asked : [...ALL];
let failed = 0;
for (const name of names) {
  const file = join(import.meta.dirname, `${name}.ts`);
  if (!existsSync(file)) continue;
  const extra = (process.env[`BENCH_ARGS_${name}`] ?? '').split(' ').filter(Boolean);
  console.log(`\n=== bench/${name}.ts ${extra.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...extra], { stdio: 'inherit', env: { ...process.env, FAIRWATCH_DIAL_LOOPBACK_ONLY: '1' } });
  if (r.status !== 0) {
    failed++;
    console.error(`bench/${name}.ts exited ${r.status ?? r.signal}`);
  }
}
process.exit(failed ? 1 : 0);
