import { copyFileSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyCategoriser } from '../../analyser/import/categoriser.ts';
import { SquidImporter, type ImportDeps } from '../../analyser/import/squid-import.ts';
import { eventId } from '../../analyser/import/squid-encoder.ts';
import { parseSquidLine } from '../../analyser/import/squid-line.ts';
import type { Platform } from '../../core/platform.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// Import of real Squid log lines (native, common, combined, and malformed ones) into events.

const FIXTURE = join(import.meta.dirname, '../fixtures/squid/access.log');
const BLOCKLISTS = join(import.meta.dirname, '../fixtures/blocklists');
const YAML = 'retention: { eventsDays: 3650 }\n';

let platform: Platform;
let cleanup: () => Promise<void>;
const tmp = tempDir('fw-import-');

beforeAll(async () => {
  ({ platform, cleanup } = await openTestPlatform({ yaml: YAML, redis: false }));
}, 60_000);
afterAll(async () => {
  await cleanup?.();
  tmp.cleanup();
});

async function deps(): Promise<ImportDeps> {
  const { categoriser, warning } = await policyCategoriser(platform.config, BLOCKLISTS);
  expect(warning).toBeNull();
  return { store: platform.store, pseudonyms: platform.pseudonyms, config: platform.config, categoriser, groups: new Map([['alice', 'managers']]) };
}
const importer = async () => new SquidImporter(await deps());

describe('import squid-log', () => {
  it('imports good lines with pseudonyms and categories, and reports bad lines by number', async () => {
    const r = await (await importer()).importFile(FIXTURE);
    expect(r).toMatchObject({ lines: 12, imported: 8, alreadyImported: 0, bad: 4 });
    expect(r.badLines.map((b) => b.line)).toEqual([6, 7, 8, 11]);
    const rows = await platform.store.rows<Record<string, unknown>>('SELECT * FROM fairwatch.events ORDER BY ts, host');
    expect(rows).toHaveLength(8);
    const byHost = (h: string) => rows.find((e) => e.host === h)!;
    const p = platform.pseudonyms;
    expect(byHost('www.roblox.com')).toMatchObject({ method: 'CONNECT', scheme: 'https', port: 443, category: 'games', user_pseudonym: p.user('alice'), user_group: 'managers', source: 'import', bytes_down: 5520, duration_ms: 2413 });
    expect(byHost('www.bet365.com')).toMatchObject({ action: 'block', category: 'gambling', user_pseudonym: p.user('bob'), user_group: 'staff', status: 403 });
    expect(byHost('download.example.org')).toMatchObject({ path: '/tools/setup.exe', query: '', filename: 'setup.exe', flags: ['executable'] });
    expect(byHost('miniclip.com')).toMatchObject({ category: 'games', user_pseudonym: '', user_group: 'guests', ts: '2026-02-17 10:00:08.000' });
    expect(byHost('www.example.com').user_pseudonym).toBe(p.user('Bob Smith'));
    expect(byHost('www.example.net').client_pseudonym).toBe(p.client('192.168.0.40'));
    // the engine derives each event id from the line exactly as eventId() does in JavaScript
    const fixtureLines = readFileSync(FIXTURE, 'utf8').split('\n');
    const want = fixtureLines.map((t, i) => (parseSquidLine(t).ok ? eventId(t, i + 1) : null)).filter((x) => x !== null).sort();
    const got = (await platform.store.rows<{ id: string }>('SELECT toString(event_id) AS id FROM fairwatch.events ORDER BY id')).map((r) => r.id);
    expect(got).toEqual(want);
    // no raw user name or client address in any column
    const dump = JSON.stringify(rows);
    for (const raw of ['alice', 'bob', 'Bob Smith', 'carol', '192.168.0.224', '192.168.0.31', '192.168.0.40']) expect(dump).not.toContain(raw);
  });

  it('adds nothing when the same file is imported again, and only the new lines of a grown file', async () => {
    const again = await (await importer()).importFile(FIXTURE);
    expect(again).toMatchObject({ imported: 0, alreadyImported: 8, bad: 4 });
    const grown = join(tmp.dir, 'grown.log');
    copyFileSync(FIXTURE, grown);
    appendFileSync(grown, '1771322500.000     45 192.168.0.224 TCP_MISS/200 800 GET http://www.bbc.co.uk/sport alice DIRECT/151.101.0.81 text/html\n' +
      '1771322501.000     45 192.168.0.224 TCP_MISS/200 800 GET http://pokerstars.com/ alice DIRECT/1.2.3.4 text/html\n');
    const more = await (await importer()).importFile(grown);
    expect(more).toMatchObject({ imported: 2, alreadyImported: 8, bad: 4 });
    expect((await platform.store.one<{ n: number }>('SELECT count() AS n FROM fairwatch.events'))!.n).toBe(10);
    // the rollups saw the imported events too
    expect((await platform.store.one<{ n: number }>("SELECT sum(requests) AS n FROM fairwatch.rollup_person_hourly WHERE category = 'gambling'"))!.n).toBe(2);
  });

  it('adds nothing for batches stored without a ledger entry (an interrupted import), and all of a second log of the same minutes', async () => {
    const count = async (sql: string) => Number((await platform.store.one<{ n: number }>(sql))!.n);
    // as if the process died between a batch's events and its ledger entry: the ids decide alone
    await platform.store.command('TRUNCATE TABLE fairwatch.import_ledger');
    const grown = join(tmp.dir, 'grown.log');
    expect(await (await importer()).importFile(grown)).toMatchObject({ imported: 0, alreadyImported: 10, bad: 4, skippedBatches: 0 });
    expect(await count('SELECT count() AS n FROM fairwatch.events')).toBe(10);
    expect(await count('SELECT sum(requests) AS n FROM fairwatch.rollup_org_hourly')).toBe(10);
    // another proxy's log of the same minutes (its clients on another subnet): every line is new
    // although imported events fill the time range
    const other = join(tmp.dir, 'other-proxy.log');
    writeFileSync(other, readFileSync(FIXTURE, 'utf8').replace(/192\.168\.0\.(\d+)/g, '192.168.1.$1'));
    expect(await (await importer()).importFile(other)).toMatchObject({ imported: 8, alreadyImported: 0, bad: 4 });
    expect(await count('SELECT count() AS n FROM fairwatch.events')).toBe(18);
    expect(await count('SELECT sum(requests) AS n FROM fairwatch.rollup_org_hourly')).toBe(18);
    expect(await count(`SELECT count() AS n FROM fairwatch.events WHERE client_pseudonym = '${platform.pseudonyms.client('192.168.1.224')}'`)).toBe(3);
  });
});

describe('import squid-log in worker threads', () => {
  it('stores exactly what the in-process import stores, batch for batch (110,000 lines, three batches)', async () => {
    const fixture = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
    const path = join(tmp.dir, 'big.log');
    // distinct lines (time and path vary), the fixture's bad lines among them
    const lines = Array.from({ length: 110_000 }, (_, i) => {
      const l = fixture[i % fixture.length]!;
      return /^\d/.test(l) ? l.replace(/^\d+\.\d+/, (t) => (Number(t) + i).toFixed(3)).replace(/(https?:\/\/[^ ]+)/, `$1${i % 7 ? '' : `?n=${i}`}`) : l;
    });
    writeFileSync(path, `${lines.join('\n')}\n`);
    const { loadKey } = await import('../../core/keys.ts');
    const snapshot = async () => platform.store.rows<Record<string, unknown>>(
      'SELECT toString(event_id) AS id, ts, user_pseudonym, user_group, client_pseudonym, host, path, category, action, flags, bytes_down FROM fairwatch.events ORDER BY id');
    const reset = async () => {
      await platform.store.command('TRUNCATE TABLE fairwatch.events');
      await platform.store.command('TRUNCATE TABLE fairwatch.import_ledger');
    };
    await reset();
    const base = await importer();
    const threaded = new SquidImporter({ ...(await deps()), workers: { count: 2, pseudonymKey: loadKey(platform.runtime.dataDir, 'pseudonym', {}) } });
    const a = await threaded.importFile(path);
    expect(a.workers).toBe(2);
    const viaWorkers = await snapshot();
    await reset();
    const b = await base.importFile(path);
    expect(b.workers).toBe(0);
    const inProcess = await snapshot();
    expect({ ...a, workers: 0 }).toEqual(b);
    expect(a).toMatchObject({ lines: 110_000, batches: 3 });
    expect(viaWorkers.length).toBe(a.imported);
    expect(viaWorkers).toEqual(inProcess);
    expect(new Set(viaWorkers.map((r) => r.category))).toEqual(new Set(inProcess.map((r) => r.category)));
    expect(viaWorkers.some((r) => r.category === 'gambling')).toBe(true);
    // and a re-import through the workers adds nothing
    const again = await threaded.importFile(path);
    expect(again).toMatchObject({ imported: 0, alreadyImported: a.imported, skippedBatches: 3 });
    await reset();
  }, 180_000);
});

describe('CLI: import squid-log and reports run', () => {
  it('imports, re-imports idempotently, builds an audit and prints its id', async () => {
    const dir = tempDir('fw-import-cli-');
    try {
      const config = join(dir.dir, 'fairwatch.yaml');
      writeFileSync(config, YAML);
      const env = { FAIRWATCH_DATA_DIR: join(dir.dir, 'data'), FAIRWATCH_CONFIG: config, FAIRWATCH_BLOCKLISTS: BLOCKLISTS };
      const first = await runCli(['import', 'squid-log', FIXTURE], { env, timeoutMs: 90_000 });
      expect(first.stdout).toBe('imported 8 events from 12 lines (0 already imported, 4 bad lines)\n');
      expect(first.stderr).toContain(`${FIXTURE}:6: neither Squid native nor common/combined log format`);
      expect(first.stderr).toContain(`${FIXTURE}:11: URL "/relative/only" is not an absolute http(s) URL`);
      expect(first.code).toBe(0);
      const second = await runCli(['import', 'squid-log', FIXTURE], { env, timeoutMs: 90_000 });
      expect(second.stdout).toBe('imported 0 events from 12 lines (8 already imported, 4 bad lines)\n');
      const threaded = await runCli(['import', 'squid-log', '--workers', '2', FIXTURE], { env, timeoutMs: 90_000 });
      expect(threaded.stdout).toBe('imported 0 events from 12 lines (8 already imported, 4 bad lines)\n');
      const badWorkers = await runCli(['import', 'squid-log', '--workers', 'many', FIXTURE], { env, timeoutMs: 90_000 });
      expect(badWorkers.code).not.toBe(0);
      expect(badWorkers.stderr).toContain('--workers: expected a whole number from 0 to 64, got "many"');
      const run = await runCli(['reports', 'run', 'audit', '--from', '2026-02-17T00:00:00Z', '--to', '2026-02-18T00:00:00Z'], { env, timeoutMs: 90_000 });
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
      const bad = await runCli(['reports', 'run', 'audit', '--from', 'yesterday', '--to', '2026-02-18'], { env, timeoutMs: 90_000 });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--from "yesterday": not an ISO date/time');
      const missing = await runCli(['import', 'squid-log', join(dir.dir, 'nope.log')], { env, timeoutMs: 90_000 });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('nope.log: no such file');
    } finally {
      dir.cleanup();
    }
  }, 300_000);
});

describe('import squid-log and retention', () => {
  it('lines older than retention.eventsDays are not counted as imported; the command says how many were skipped and why', async () => {
    const dir = tempDir('fw-import-old-');
    try {
      // default retention (90 days): 200 lines from 400 days ago, 10 from yesterday
      const day = 86_400_000;
      const line = (t: number, i: number) => `${(t / 1000).toFixed(3)}    180 192.168.0.224 TCP_MISS/200 4110 GET http://www.example.com/p${i} - DIRECT/151.101.0.81 text/html`;
      const old = Date.now() - 400 * day;
      const recent = Date.now() - day;
      const log = join(dir.dir, 'access.log');
      writeFileSync(log, [...Array.from({ length: 200 }, (_, i) => line(old + i * 1000, i)), ...Array.from({ length: 10 }, (_, i) => line(recent + i * 1000, 200 + i))].join('\n') + '\n');
      const cutoff = new Date(Date.now() - 90 * day).toISOString().slice(0, 10);
      const window = ['--from', new Date(old - day).toISOString(), '--to', new Date(Date.now() + day).toISOString(), '--json'];
      // in this thread and in worker threads (they encode the batches there)
      for (const workers of ['0', '2']) {
        const config = join(dir.dir, `fairwatch-${workers}.yaml`);
        writeFileSync(config, 'organisation: { name: Test }\n');
        const env = { FAIRWATCH_DATA_DIR: join(dir.dir, `data-${workers}`), FAIRWATCH_CONFIG: config, FAIRWATCH_BLOCKLISTS: BLOCKLISTS };
        const first = await runCli(['import', 'squid-log', '--workers', workers, log], { env, timeoutMs: 90_000 });
        expect(first.stdout).toBe('imported 10 events from 210 lines (0 already imported, 0 bad lines, 200 skipped: older than retention.eventsDays (90 days))\n');
        expect(first.stderr).toMatch(new RegExp(`200 lines are from before (${cutoff}|\\d{4}-\\d{2}-\\d{2}), older than retention\\.eventsDays \\(90 days\\).*raise retention\\.eventsDays`));
        expect(first.code).toBe(0);
        const again = await runCli(['import', 'squid-log', '--workers', workers, log], { env, timeoutMs: 90_000 });
        expect(again.stdout).toBe('imported 0 events from 210 lines (10 already imported, 0 bad lines, 200 skipped: older than retention.eventsDays (90 days))\n');
        const count = await runCli(['events', 'count', ...window], { env, timeoutMs: 90_000 });
        expect(JSON.parse(count.stdout)).toMatchObject({ count: 10, unique: 10 });
      }
    } finally {
      dir.cleanup();
    }
  }, 300_000);
});
