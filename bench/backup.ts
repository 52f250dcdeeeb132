// Backup and restore benchmark. Run: `node --import tsx bench/backup.ts [--rows N]`.
//
// 1. backup: `backupTo` (every table in Native format, gzip, checksums; Redis DUMP; keys) against
//    the baseline measured in the same run: streaming the events table out in Native format to
//    /dev/null (the engine's own export, no compression, no files).
// 2. restore: the real `fairwatch restore` command into an empty data directory against the same
//    command's fixed cost (a `fairwatch users list` on a fresh data directory: process start,
//    engine load, migrations).
// Rows are generated inside ClickHouse (INSERT … SELECT) so the setup stays short.
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseConfig } from '../core/config/load.ts';
import { backupTo } from '../core/ops/backup.ts';
import { Platform } from '../core/platform.ts';
import { tempDir } from '../test/helpers/tmp.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROWS = arg('--rows', 500_000);
const tmp = tempDir('fw-bench-backup-');
const src = join(tmp.dir, 'src');
const seconds = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

try {
  console.log(`backup/restore benchmark: ${ROWS} events; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (shared, busy machine: compare ratios, not absolute times)`);
  const p = await Platform.open({
    role: 'bench', store: true, redis: true, env: {},
    loaded: { config: parseConfig(''), runtime: { dataDir: src, configPath: null, blocklistsDir: 'blocklists', clickhouseUrl: null, redisUrl: null } },
  });
  try {
    await p.store.command(`INSERT INTO fairwatch.events
      SELECT now64(3) - toIntervalSecond(number % 2592000), generateUUIDv4(), lower(hex(cityHash64(number % 300))), 'staff',
        lower(hex(cityHash64(number % 250, 1))), 'GET', 'https', concat('site', toString(number % 5000), '.example.com'), 443,
        concat('/p/', toString(number % 977)), '', 200, 400 + number % 900, 2000 + number % 90000, number % 300, 'text/html', '',
        ['news', 'shopping', 'gambling', 'webmail'][1 + number % 4], if(number % 11 = 0, 'block', 'allow'), 'r', [], 'proxy'
      FROM numbers(${ROWS})`);
    const baseline = await seconds(async () => {
      const res = await p.store.client.exec({ query: 'SELECT * FROM fairwatch.events FORMAT Native', clickhouse_settings: { insert_deduplication_token: '' } });
      await pipeline(res.stream, createWriteStream('/dev/null'));
    });
    const backup = await seconds(() => backupTo(p, join(tmp.dir, 'bk')));
    const bytes = Number(spawnSync('du', ['-sb', join(tmp.dir, 'bk')], { encoding: 'utf8' }).stdout.split('\t')[0]);
    console.log(`  export baseline (Native to /dev/null): ${baseline.toFixed(2)} s (${Math.round(ROWS / baseline)} rows/s)`);
    console.log(`  backup (all tables, gzip, checksums, Redis, keys): ${backup.toFixed(2)} s (${Math.round(ROWS / backup)} rows/s) = ${(backup / baseline).toFixed(2)}x baseline; ${(bytes / ROWS).toFixed(1)} bytes per event on disk`);
  } finally {
    await p.close();
  }
  const bin = join(import.meta.dirname, '..', 'bin', 'fairwatch');
  const run = (args: string[], dataDir: string) => seconds(async () => {
    const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: '', FAIRWATCH_LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`fairwatch ${args.join(' ')}: ${r.stderr}`);
  });
  const fixed = await run(['users', 'list'], join(tmp.dir, 'fresh'));
  const restore = await run(['restore', '--from', join(tmp.dir, 'bk')], join(tmp.dir, 'dst'));
  console.log(`  command fixed cost (users list on a fresh data dir): ${fixed.toFixed(2)} s`);
  console.log(`  restore: ${restore.toFixed(2)} s = ${(restore / fixed).toFixed(2)}x the fixed cost; ${Math.round(ROWS / Math.max(restore - fixed, 0.001))} rows/s beyond it`);
} finally {
  tmp.cleanup();
}
