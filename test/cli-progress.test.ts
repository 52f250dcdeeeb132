import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatProgress, terminalProgress } from '../cli/progress.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tmp.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'fairwatch');
const FIXTURE = join(import.meta.dirname, 'fixtures/squid/access.log');
const tmp = tempDir('fw-progress-');
afterAll(() => tmp.cleanup());

/** Runs the real command under a pseudo-terminal (util-linux `script`) and returns what the terminal received. */
function inTerminal(args: string[], env: NodeJS.ProcessEnv): { code: number | null; screen: string } {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, FAIRWATCH_LOG_LEVEL: 'warn', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, screen: r.stdout };
}

describe('progress line', () => {
  it('shows counts, rate and time left once a second has passed', () => {
    const u = { step: 'importing access.log', done: 25 << 20, total: 100 << 20, unit: 'bytes' as const, count: { n: 50_000, unit: 'lines' } };
    expect(formatProgress(u, 500)).toBe('importing access.log · 50,000 lines · 25.0 MB of 100.0 MB (25%)');
    expect(formatProgress(u, 10_000)).toBe('importing access.log · 50,000 lines · 25.0 MB of 100.0 MB (25%) · 5,000 lines/s · 30s left');
    expect(formatProgress({ step: 'restoring table events', done: 1_000, total: 61_000, unit: 'rows' }, 2_000))
      .toBe('restoring table events · 1,000 rows of 61,000 rows (1%) · 500 rows/s · 2m 00s left');
    expect(formatProgress({ step: 'downloading', done: 3 << 20, unit: 'bytes' }, 3_000)).toBe('downloading · 3.0 MB · 1.0 MB/s');
    expect(formatProgress({ step: 'unpacking the archive', done: 0 }, 65_000)).toBe('unpacking the archive · 1m 05s');
  });

  it('draws nothing when the stream is not a terminal; on one, redraws at most every interval and always on a new step', () => {
    const written: string[] = [];
    const fake = (isTTY: boolean) => ({ isTTY, columns: 60, write: (t: string) => { written.push(t); return true; } }) as unknown as NodeJS.WriteStream;
    const quiet = terminalProgress(fake(false));
    quiet.sink({ step: 'x', done: 1, unit: 'rows' });
    quiet.end();
    expect(written).toEqual([]);
    let t = 0;
    const p = terminalProgress(fake(true), { everyMs: 100, now: () => t });
    p.sink({ step: 'a', done: 1, unit: 'rows' });
    t = 50; p.sink({ step: 'a', done: 2, unit: 'rows' });
    t = 60; p.sink({ step: 'b', done: 3, unit: 'rows' });
    t = 200; p.sink({ step: 'b', done: 4, unit: 'rows' });
    t = 210; p.sink({ step: 'b', done: 5, total: 9, unit: 'rows' });
    t = 220; p.sink({ step: 'b', done: 9, total: 9, unit: 'rows' });
    p.end();
    expect(written).toEqual(['\r\x1b[2Ka · 1 rows', '\r\x1b[2Kb · 3 rows', '\r\x1b[2Kb · 4 rows', '\r\x1b[2Kb · 9 rows of 9 rows (100%)', '\r\x1b[2K']);
  });
});

describe('long commands in a terminal and not', () => {
  const config = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(config, 'retention: { eventsDays: 3650 }\n');
  const env = { FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: config, FAIRWATCH_BLOCKLISTS: join(tmp.dir, 'lists') };

  it('import squid-log: a progress line on a terminal, unchanged output when piped', async () => {
    const tty = inTerminal(['import', 'squid-log', FIXTURE], env);
    expect(tty.code, tty.screen).toBe(0);
    expect(tty.screen).toContain('\r\x1b[2Kimporting access.log · 12 lines · ');
    // the last draw is the whole file, then the line is cleared before anything else is printed
    expect(tty.screen).toMatch(/ of [0-9.]+ (kB|B) \(100%\)\r\x1b\[2K\//);
    expect(tty.screen).toContain('imported 8 events from 12 lines (0 already imported, 4 bad lines)');
    const piped = await runCli(['import', 'squid-log', FIXTURE], { env, timeoutMs: 90_000 });
    expect(piped.stdout).toBe('imported 0 events from 12 lines (8 already imported, 4 bad lines)\n');
    expect(piped.stderr).not.toContain('\x1b');
    expect(piped.stderr).not.toContain('importing');
  });

  it('blocklists update, backup and restore show their steps on a terminal only', async () => {
    const src = join(tmp.dir, 'new-lists');
    mkdirSync(join(src, 'games'), { recursive: true });
    writeFileSync(join(src, 'games', 'domains'), 'miniclip.com\n');
    const tty = inTerminal(['blocklists', 'update', '--from', src], env);
    expect(tty.code, tty.screen).toBe(0);
    expect(tty.screen).toContain('\r\x1b[2Kcopying the lists');
    expect(tty.screen).toContain('\r\x1b[2Kchecking the new lists');
    const piped = await runCli(['blocklists', 'update', '--from', src], { env });
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toMatch(/^updated .*: 1 categories, 1 distinct names, 0 bad lines skipped\nprevious set kept in /);

    const backup = inTerminal(['backup', '--to', join(tmp.dir, 'b1')], env);
    expect(backup.code, backup.screen).toBe(0);
    expect(backup.screen).toMatch(/\r\x1b\[2Kcopying table \w+ · \d+ tables of \d+ tables/);
    const pipedBackup = await runCli(['backup', '--to', join(tmp.dir, 'b2')], { env, timeoutMs: 90_000 });
    expect(pipedBackup.code, pipedBackup.stderr).toBe(0);
    expect(pipedBackup.stdout + pipedBackup.stderr).not.toContain('\x1b');
    expect(pipedBackup.stdout).toMatch(/^backup written to /);

    // restore into a new data directory: rows of all tables, then Redis
    const fresh = { ...env, FAIRWATCH_DATA_DIR: join(tmp.dir, 'data2') };
    const restore = inTerminal(['restore', '--from', join(tmp.dir, 'b1')], fresh);
    expect(restore.code, restore.screen).toBe(0);
    expect(restore.screen).toMatch(/\r\x1b\[2Krestoring table \w+ · [\d,]+ rows of [\d,]+ rows \(\d+%\)/);
    expect(restore.screen).toMatch(/\r\x1b\[2Krestored .* into /);
    const pipedRestore = await runCli(['restore', '--from', join(tmp.dir, 'b2')], { env: { ...env, FAIRWATCH_DATA_DIR: join(tmp.dir, 'data3') }, timeoutMs: 90_000 });
    expect(pipedRestore.code, pipedRestore.stderr).toBe(0);
    expect(pipedRestore.stdout + pipedRestore.stderr).not.toContain('\x1b');
    expect(pipedRestore.stdout).toMatch(/^restored /);
  }, 240_000);
});
