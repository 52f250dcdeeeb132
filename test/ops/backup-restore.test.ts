import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogFor } from '../../core/audit/log.ts';
import { hasAcceptedAup, recordAupAcceptance } from '../../core/identity/aup.ts';
import { acceptedInStore } from '../helpers/aup-store.ts';
import { loadKey } from '../../core/keys.ts';
import { masterKeyId, openReport, sealReport, type SealedPayload } from '../../core/reports/seal.ts';
import { caKeyPath, createCa, loadCa } from '../../core/tls/ca.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// Round trip through the real `fairwatch` command: a data directory filled with events, a sealed
// report, users, audit rows and Redis state is backed up (once while `start` owns it, once
// stopped), restored into an empty data directory, and read back: same counts, the report opens,
// the audit chain verifies. Then the keys are rotated and the effect on old data checked.

const tmp = tempDir('fw-ops-backup-');
afterAll(() => tmp.cleanup());
const src = join(tmp.dir, 'src');
const dst = join(tmp.dir, 'dst');
const env = (dataDir: string) => ({ FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: '' });
const EVENTS = 1500;
// every command loads the embedded engine: give it room on a busy shared machine
const cli = (args: string[], opts: Parameters<typeof runCli>[1] = {}) => runCli(args, { timeoutMs: 150_000, ...opts });
const reportId = randomUUID();
const reportBody = JSON.stringify({ title: 'audit', rows: [{ category: 'gambling', requests: 7 }] });
let srcCounts: Record<string, number> = {};

async function counts(p: Awaited<ReturnType<typeof openTestPlatform>>['platform']): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['events', 'reports', 'users', 'audit_log', 'aup_acceptances', 'rollup_org_hourly']) {
    out[t] = Number((await p.store.one<{ n: string }>(`SELECT count() AS n FROM fairwatch.${t}`))!.n);
  }
  out.rollup_requests = Number((await p.store.one<{ n: string }>('SELECT sum(requests) AS n FROM fairwatch.rollup_org_hourly'))!.n);
  return out;
}

beforeAll(async () => {
  const { platform: p, cleanup } = await openTestPlatform({ dataDir: src });
  try {
    const t0 = Date.UTC(2026, 10, 2, 9, 0, 0);
    const rows = Array.from({ length: EVENTS }, (_, i) => ({
      ts: new Date(t0 + i * 60_000).toISOString(), event_id: randomUUID(), user_pseudonym: p.pseudonyms.user(`person${i % 7}`),
      user_group: 'staff', client_pseudonym: p.pseudonyms.client(`192.168.1.${i % 7}`), method: 'GET', scheme: 'https',
      host: `site${i % 13}.example.com`, port: 443, path: '/', status: 200, bytes_up: 100 + i, bytes_down: 1000 + i,
      duration_ms: 12, content_type: 'text/html', filename: '', category: i % 5 === 0 ? 'gambling' : 'news',
      action: i % 5 === 0 ? 'block' : 'allow', rule: 'r', flags: i % 50 === 0 ? ['executable'] : [], source: 'proxy',
    }));
    await p.store.insert('events', rows);
    const sealed = sealReport(loadKey(src, 'report-master', {}), reportId, reportBody);
    await p.store.insert('reports', [{
      report_id: reportId, kind: 'audit', period_from: '2026-11-02T00:00:00Z', period_to: '2026-11-03T00:00:00Z',
      created_at: new Date().toISOString(), row_counts: { categories: 1 }, ...sealed,
    }]);
    await p.users.add({ username: 'dana', role: 'director', group: 'staff', password: 'a long director password' });
    await p.users.add({ username: 'sam', role: 'staff', group: 'staff', password: 'a long staff password' });
    await recordAupAcceptance(p.store, p.redis, { userPseudonym: p.pseudonyms.user('sam'), version: '1', clientPseudonym: p.pseudonyms.client('192.168.1.9') });
    const audit = auditLogFor(p.store, p.redis);
    for (let i = 0; i < 5; i++) await audit.append({ actor: 'system', actorRole: 'system', action: 'test', target: `t${i}`, reason: '', outcome: 'ok' });
    // Redis: a stream with a consumer group and a pending entry (not the events stream: the
    // ingester of the `start` below would consume that one), and a key with a TTL.
    await p.redis.xgroup('CREATE', 'fairwatch:test:stream', 'ingest', '$', 'MKSTREAM');
    for (let i = 0; i < 3; i++) await p.redis.xadd('fairwatch:test:stream', '*', 'e', JSON.stringify({ n: i }));
    await p.redis.xreadgroup('GROUP', 'ingest', 'c1', 'COUNT', 1, 'STREAMS', 'fairwatch:test:stream', '>');
    await p.redis.set('fairwatch:test:ttl', 'v', 'EX', 3600);
    createCa(src, { organisation: 'Example Community Trust' });
    srcCounts = await counts(p);
  } finally {
    await cleanup();
  }
  expect(srcCounts.events).toBe(EVENTS);
  expect(srcCounts.rollup_requests).toBe(EVENTS);
});

describe('backup and restore', () => {
  it('backs up through a running `start` (control socket), refusing a relative path there', async () => {
    const server = startCli(['start'], { env: { ...env(src), FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0' }, timeoutMs: 150_000 });
    try {
      await server.ready;
      const rel = await cli(['backup', '--to', 'relative-dir'], { env: env(src), cwd: tmp.dir });
      expect(rel.code).toBe(2);
      expect(rel.stderr).toMatch(/--to relative-dir: give an absolute path/);
      const live = await cli(['backup', '--to', join(tmp.dir, 'live')], { env: env(src) });
      expect(live.stderr).toBe('');
      expect(live.code).toBe(0);
      expect(live.stdout).toMatch(new RegExp(`table events: ${EVENTS} rows`));
      const restore = await cli(['restore', '--from', join(tmp.dir, 'live')], { env: env(src) });
      expect(restore.code).toBe(1);
      expect(restore.stderr).toMatch(/restore needs fairwatch stopped: process \d+/);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
  }, 300_000);

  it('backs up a stopped data directory, then restores it into an empty one with the same content', async () => {
    const bk = join(tmp.dir, 'bk');
    const b = await cli(['backup', '--to', bk], { env: env(src) });
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/redis: \d+ keys/);
    expect(statSync(bk).mode & 0o077).toBe(0);
    const manifest = JSON.parse(readFileSync(join(bk, 'manifest.json'), 'utf8'));
    expect(manifest.keys.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['pseudonym.key', 'report-master.key']));
    expect(manifest.tables.find((t: { name: string }) => t.name === 'events').rows).toBe(EVENTS);
    // a second backup into the same directory is refused
    const again = await cli(['backup', '--to', bk], { env: env(src) });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists and is not an empty directory/);

    const r = await cli(['restore', '--from', bk], { env: env(dst) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`table events: ${EVENTS} rows`));

    const { platform: p, cleanup } = await openTestPlatform({ dataDir: dst });
    try {
      // the live backup appended one audit row at the source before this backup, the restore one more
      expect(await counts(p)).toEqual({ ...srcCounts, audit_log: srcCounts.audit_log! + 2 });
      const row = await p.store.one<SealedPayload>(`SELECT key_id, wrapped_key, iv, tag, ciphertext FROM fairwatch.reports WHERE report_id = {id:UUID}`, { id: reportId });
      expect(openReport(loadKey(dst, 'report-master', {}), reportId, row!).toString()).toBe(reportBody);
      expect(await auditLogFor(p.store, p.redis).verify()).toMatchObject({ ok: true });
      expect(p.pseudonyms.user('person1')).toBe((await p.store.one<{ u: string }>(
        "SELECT user_pseudonym AS u FROM fairwatch.events ORDER BY ts LIMIT 1 OFFSET 1"))!.u);
      expect(await p.redis.xlen('fairwatch:test:stream')).toBe(3);
      const groups = (await p.redis.xinfo('GROUPS', 'fairwatch:test:stream')) as unknown[][];
      expect(groups[0]).toEqual(expect.arrayContaining(['name', 'ingest', 'pending', 1]));
      expect(await p.redis.pttl('fairwatch:test:ttl')).toBeGreaterThan(3_000_000);
      expect(await hasAcceptedAup(p.redis, p.pseudonyms.user('sam'), '1')).toBe(true);
      expect((await p.users.list()).map((u) => u.username)).toEqual(['dana', 'sam']);
      // the organisation CA that every browser trusts comes back too, its key private
      expect(loadCa(dst)!.certPem).toBe(loadCa(src)!.certPem);
      expect(statSync(caKeyPath(dst)).mode & 0o077).toBe(0);
    } finally {
      await cleanup();
    }

    // restoring again over data is refused, naming the table, and changes nothing
    const twice = await cli(['restore', '--from', bk], { env: env(dst) });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/table \w+ already holds \d+ rows: restore needs an empty data directory/);
  }, 300_000);

  it('a damaged backup is refused before anything is written, naming the file', async () => {
    const bk = join(tmp.dir, 'bk');
    const damaged = join(tmp.dir, 'damaged');
    cpSync(bk, damaged, { recursive: true });
    const f = join(damaged, 'reports.native.gz');
    const bytes = readFileSync(f);
    bytes[bytes.length - 5]! ^= 0xff;
    writeFileSync(f, bytes);
    const fresh = join(tmp.dir, 'fresh');
    const r = await cli(['restore', '--from', damaged], { env: env(fresh) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reports\.native\.gz: checksum does not match manifest\.json/);
    expect(existsSync(join(fresh, 'clickhouse'))).toBe(false);
    const none = await cli(['restore', '--from', join(tmp.dir, 'nothing-here')], { env: env(fresh) });
    expect(none.stderr).toMatch(/not a fairwatch backup \(no manifest\.json\)/);
    expect(existsSync(bk)).toBe(true);
  }, 300_000);
});

describe('key rotation', () => {
  it('report-master: every report re-wrapped, opens with the new key only, old key kept in retired/', async () => {
    const oldKey = loadKey(dst, 'report-master', {});
    const r = await cli(['keys', 'rotate', 'report-master'], { env: env(dst) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/reports re-wrapped: 1\n/);
    const newKey = loadKey(dst, 'report-master', {});
    expect(newKey.equals(oldKey)).toBe(false);
    expect(r.stdout).toContain(`${masterKeyId(oldKey)} → ${masterKeyId(newKey)}`);
    const { platform: p, cleanup } = await openTestPlatform({ dataDir: dst });
    try {
      const row = await p.store.one<SealedPayload>(`SELECT key_id, wrapped_key, iv, tag, ciphertext FROM fairwatch.reports WHERE report_id = {id:UUID}`, { id: reportId });
      expect(row!.key_id).toBe(masterKeyId(newKey));
      expect(openReport(newKey, reportId, row!).toString()).toBe(reportBody);
      expect(() => openReport(oldKey, reportId, row!)).toThrow(/sealed under key/);
      // sam's acceptance is recorded under the current pseudonym before the pseudonym rotation
      expect(await acceptedInStore(p.store, p.pseudonyms.user('sam'), '1')).toBe(true);
    } finally {
      await cleanup();
    }
    const retired = /old key kept at (\S+)/.exec(r.stdout)![1]!;
    expect(readFileSync(retired, 'utf8').trim()).toBe(oldKey.toString('hex'));
    expect(statSync(retired).mode & 0o077).toBe(0);
  }, 300_000);

  it('pseudonym: old events keep old pseudonyms, acceptances carry over, a bad new key is refused', async () => {
    const bad = await cli(['keys', 'rotate', 'pseudonym', '--new-key-stdin'], { env: env(dst), stdin: 'not-hex' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/new key: expected 64 hexadecimal characters/);
    const unknown = await cli(['keys', 'rotate', 'everything'], { env: env(dst) });
    expect(unknown.code).toBe(2);

    const oldKey = loadKey(dst, 'pseudonym', {});
    const r = await cli(['keys', 'rotate', 'pseudonym'], { env: env(dst) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/old events keep their pseudonyms; acceptable-use acceptances carried over: 1\n/);
    const { platform: p, cleanup } = await openTestPlatform({ dataDir: dst });
    try {
      const { Pseudonymiser } = await import('../../core/identity/pseudonym.ts');
      const oldP = new Pseudonymiser(oldKey);
      expect(p.pseudonyms.user('person1')).not.toBe(oldP.user('person1'));
      const n = (u: string) => p.store.one<{ n: string }>('SELECT count() AS n FROM fairwatch.events WHERE user_pseudonym = {u:String}', { u });
      expect(Number((await n(oldP.user('person1')))!.n)).toBeGreaterThan(0);
      expect(Number((await n(p.pseudonyms.user('person1')))!.n)).toBe(0);
      expect(await acceptedInStore(p.store, p.pseudonyms.user('sam'), '1')).toBe(true);
      expect(await hasAcceptedAup(p.redis, p.pseudonyms.user('sam'), '1')).toBe(true);
      const audit = await auditLogFor(p.store, p.redis).list(3);
      expect(audit.map((a) => a.action)).toEqual(['key-rotate:pseudonym', 'key-rotate:report-master', 'restore']);
      expect(await auditLogFor(p.store, p.redis).verify()).toMatchObject({ ok: true });
    } finally {
      await cleanup();
    }
  }, 300_000);
});
