import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportEvidencePack } from '../../core/evidence/export.ts';
import { verifyEvidencePack } from '../../core/evidence/pack.ts';
import { buildAudit } from '../../analyser/reports/audit.ts';
import { bandPolicy } from '../../core/reports/context.ts';
import { buildInvestigation } from '../../core/reports/investigation.ts';
import { saveBuiltReport } from '../../core/reports/payload.ts';
import { spotCheckSample } from '../../analyser/reports/sample.ts';
import { buildSpotCheck } from '../../analyser/reports/spot-check.ts';
import { BandClock, emptyBands } from '../../core/timeonline/bands.ts';
import { sessionise, sessionRuleFromConfig } from '../../core/timeonline/sessions.ts';
import { auditLogFor } from '../../core/audit/log.ts';
import { loadKey, loadSigningKey } from '../../core/keys.ts';
import type { Platform } from '../../core/platform.ts';
import { listReports, openStoredReport } from '../../core/reports/storage.ts';
import { applyRetention, tableTtl } from '../../core/storage/migrations.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { EXPECTED, PEOPLE, syntheticMonth } from './synthetic.ts';

// Reports over a generated month of traffic whose answers are known by construction
// (test/analyser/synthetic.ts), on the real embedded ClickHouse.

// Events older than retention.eventsDays are dropped by TTL as they are written: keep the fixed
// month of February 2026 for ten years.
const YAML = `
retention:
  eventsDays: 3650
policy:
  time: { bankHolidays: ['2026-06-11'] }
  rules:
    - { categories: [adult], action: block, clause: "Pornographic or obscene sites are never acceptable." }
analyser:
  spotCheckSampleSize: 3
`;
const FEB = { from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' };

let platform: Platform;
let dataDir: string;
let cleanup: () => Promise<void>;
let events: ReturnType<typeof syntheticMonth>;

beforeAll(async () => {
  ({ platform, dataDir, cleanup } = await openTestPlatform({ yaml: YAML, redis: false }));
  events = syntheticMonth(platform.pseudonyms);
  for (let i = 0; i < events.length; i += 2000) await platform.store.insert('events', events.slice(i, i + 2000));
  const p = platform.pseudonyms;
  await platform.store.insert('aup_acceptances', PEOPLE.slice(0, 5).map((name) => ({ ts: '2026-01-15 09:00:00', user_pseudonym: p.user(name), version: '1', client_pseudonym: '' })));
  await platform.store.insert('authorisations', [{
    request_id: crypto.randomUUID(), row_id: crypto.randomUUID(), ts: '2026-02-11 10:00:00', kind: 'request', subject: 'self-report',
    target: 'adult', actor: p.user('person0'), reason: 'clicked a link by mistake', expires_at: null, details: '{}',
  }]);
}, 120_000);
afterAll(async () => { await cleanup?.(); });

const ctx = () => ({ store: platform.store, config: platform.config });

describe('audit', () => {
  it('counts requests, blocked attempts, bytes, people and time online per band from the rollups', async () => {
    const r = await buildAudit(ctx(), FEB, 'monthly');
    const totals = r.data.totals as Record<string, number>;
    expect(totals.requests).toBe(EXPECTED.requests);
    expect(totals.blocked).toBe(EXPECTED.blocked);
    expect(totals.people).toBe(EXPECTED.people);
    expect(totals.bytesUp).toBe(events.reduce((s, e) => s + e.bytes_up, 0));
    expect(totals.bytesDown).toBe(events.reduce((s, e) => s + e.bytes_down, 0));
    const groups = r.data.groups as Array<{ group: string; online_minutes: Record<string, number> }>;
    const sum = { working: 0, break: 0, 'out-of-hours': 0 } as Record<string, number>;
    for (const g of groups) for (const [b, m] of Object.entries(g.online_minutes)) sum[b] = (sum[b] ?? 0) + m;
    expect(sum).toEqual(EXPECTED.minutes);
    expect(totals.minutesOnline).toBe(EXPECTED.minutes.working + EXPECTED.minutes.break + EXPECTED.minutes['out-of-hours']);
    expect(r.summary['executable downloads']).toBe(EXPECTED.executables);
    expect(r.summary['large uploads']).toBe(EXPECTED.largeUploads);
    expect(r.summary['self-reports']).toBe(1);
    expect(r.summary['acceptable-use coverage (version 1)']).toBe('50% (5 of 10 active people)');
    expect(r.data.large_uploads).toEqual([{ pseudonym: platform.pseudonyms.user('person2'), group: 'staff', uploads: 1, bytes: 30 * 1_048_576 }]);
    const domains = r.data.top_domains as Array<{ category: string; domain: string; hosts: number; requests: number; blocked: number }>;
    expect(domains.find((d) => d.domain === 'example-adult.com')).toMatchObject({ category: 'adult', hosts: 1, requests: 20, blocked: 20 });
    // the daily trend: one row per local day of February, adding up to the total
    const days = r.data.by_day as Array<{ day: string; requests: number; blocked: number }>;
    expect(days).toHaveLength(28);
    expect([days[0]!.day, days[27]!.day]).toEqual(['2026-02-01', '2026-02-28']);
    expect(days.reduce((s, d) => s + d.requests, 0)).toBe(EXPECTED.requests);
    expect(days.reduce((s, d) => s + d.blocked, 0)).toBe(EXPECTED.blocked);
    expect(r.charts[0]).toMatchObject({ title: 'Daily trend (Europe/London)', labels: expect.arrayContaining(['02-01', '02-28']) });
    expect(r.charts[0]!.labels).toHaveLength(28);
    // organisation-wide hourly rollup: the 09:00 hour holds the news sessions (09:00–09:39)
    const nine = r.tables.hours_of_day!.rows.find((row) => row[0] === '09:00')!;
    expect(nine[1]).toBe(events.filter((e) => e.ts.slice(11, 13) === '09').length);
    expect(r.tables.hours_of_day!.rows.reduce((s, row) => s + Number(row[1]), 0)).toBe(EXPECTED.requests);
    // the trend compares with January, which had no traffic
    expect(r.tables.trend!.rows[0]).toEqual(['requests', EXPECTED.requests, 0, 'new']);
  });

  it('splits time online in local time across a summer-time day and treats a bank holiday as out of hours', async () => {
    const p = platform.pseudonyms.user('summer-person');
    const row = (iso: string) => ({ ...events[0]!, ts: iso, event_id: crypto.randomUUID(), user_pseudonym: p, user_group: 'managers' });
    const rows = [];
    for (let m = 50; m <= 70; m += 2) rows.push(row(new Date(Date.UTC(2026, 5, 10, 7, m)).toISOString())); // 08:50–09:10 BST
    rows.push(row('2026-06-11T09:00:00.000Z'), row('2026-06-11T09:01:00.000Z')); // 10:00 BST on a bank holiday
    await platform.store.insert('events', rows);
    const r = await buildAudit(ctx(), { from: '2026-06-09T23:00:00Z', to: '2026-06-11T23:00:00Z' });
    const managers = (r.data.groups as Array<{ group: string; online_minutes: Record<string, number> }>).find((g) => g.group === 'managers');
    expect(managers?.online_minutes).toEqual({ working: 11, break: 0, 'out-of-hours': 10 + 2 });
  });

  it('agrees with the pure sessionisation over raw events (SQL and TypeScript implement one method)', async () => {
    const clock = new BandClock(bandPolicy(platform.config));
    const rule = sessionRuleFromConfig(platform.config.analyser);
    const byPerson = new Map<string, number[]>();
    for (const e of events) byPerson.set(e.user_pseudonym, [...(byPerson.get(e.user_pseudonym) ?? []), Date.parse(e.ts)]);
    const total = emptyBands();
    for (const times of byPerson.values()) clock.addSessions(sessionise(times, rule), total);
    expect({ working: total.working / 60_000, break: total.break / 60_000, 'out-of-hours': total['out-of-hours'] / 60_000 }).toEqual(EXPECTED.minutes);
  });

  it('names nobody: only pseudonyms appear in the rendered report', async () => {
    const r = await buildAudit(ctx(), FEB);
    const text = JSON.stringify(r);
    for (const name of PEOPLE) expect(text).not.toContain(name);
  });
});

describe('spot check', () => {
  it('is reproducible from the recorded seed', async () => {
    const a = await buildSpotCheck(ctx(), FEB);
    const seed = a.data.seed as string;
    expect(seed).toMatch(/^[0-9a-f]{64}$/);
    const b = await buildSpotCheck(ctx(), FEB, { seed });
    expect(b.data).toEqual(a.data);
    const all = PEOPLE.map((n) => platform.pseudonyms.user(n));
    const again = spotCheckSample(seed, all, 3, { from: Date.parse(FEB.from), to: Date.parse(FEB.to) }, 8 * 3_600_000);
    expect(a.data.sample).toEqual(again.pseudonyms);
    expect((a.data.window as { from: string }).from).toBe(new Date(again.window.from).toISOString());
  });

  it('measures each sampled person against the policy and flags what it should', async () => {
    // Monday 09:00 to Tuesday 17:00 with a 32-hour window, so the window is the whole period
    const config = { ...platform.config, analyser: { ...platform.config.analyser, spotCheckSampleSize: 10, spotCheckWindowHours: 32 } };
    const r = await buildSpotCheck({ store: platform.store, config }, { from: '2026-02-09T09:00:00Z', to: '2026-02-10T17:00:00Z' }, { seed: '11'.repeat(32) });
    const people = new Map((r.data.people as Array<Record<string, unknown>>).map((x) => [x.pseudonym, x]));
    const p = (n: number) => people.get(platform.pseudonyms.user(`person${n}`))!;
    expect(people.size).toBe(10);
    expect(p(5)).toMatchObject({ requests: 42, blocked: 0, flags: [], online_ms: { working: 62 * 60_000, break: 10 * 60_000, 'out-of-hours': 0 } });
    expect(p(0)).toMatchObject({ requests: 47, blocked: 2, flags: ['always-blocked-category'], online_ms: { working: 64 * 60_000, break: 10 * 60_000, 'out-of-hours': 7 * 60_000 } });
    expect(p(1).flags).toEqual(['executable-download']);
    expect(p(2).flags).toEqual(['large-upload']);
    expect(p(9)).toMatchObject({ personal_working_ms: 20 * 60_000, flags: ['excessive-personal-use'] });
    expect(p(9).personal_share_percent).toBeCloseTo((20 / 82) * 100, 0);
    expect(r.tables.flagged!.rows.filter((row) => row[5] === 'always-blocked-category')).toHaveLength(2);
  });
});

describe('sealed storage', () => {
  it('stores ciphertext only: host names and categories are not readable in the reports table', async () => {
    const key = loadKey(dataDir, 'report-master', {});
    const id = await saveBuiltReport(platform.store, key, await buildAudit(ctx(), FEB), 'Test org');
    const raw = await platform.store.rows<Record<string, unknown>>(`SELECT * FROM fairwatch.reports WHERE report_id = {id:UUID}`, { id });
    expect(raw).toHaveLength(1);
    const dump = JSON.stringify(raw);
    for (const secret of ['news.example.org', 'example-adult.com', 'social_networks', 'adult', 'games', 'miniclip', platform.pseudonyms.user('person2')]) {
      expect(dump).not.toContain(secret);
    }
    expect(Buffer.from(String(raw[0]!.ciphertext), 'base64').toString('latin1')).not.toContain('example');

    const { meta, payload } = await openStoredReport(platform.store, key, id);
    expect(meta).toMatchObject({ id, kind: 'audit', periodFrom: FEB.from, periodTo: FEB.to });
    expect(meta.rowCounts.top_domains).toBeGreaterThan(0);
    expect(payload.kind).toBe('audit');
    expect(payload.html).toContain('<svg');
    expect(payload.html).toContain('example-adult.com');
    expect(payload.csv.top_domains).toContain('example-adult.com');
    expect((payload.json as { totals: { requests: number } }).totals.requests).toBe(EXPECTED.requests);
    await expect(openStoredReport(platform.store, Buffer.alloc(32, 7), id)).rejects.toMatchObject({ code: 'FW_SEAL' });
    expect((await listReports(platform.store)).map((m) => m.id)).toContain(id);
  });
});

describe('retention', () => {
  it('sets TTLs from config in days, changes them when config changes, never on the audit log', async () => {
    expect(await tableTtl(platform.store, 'events')).toMatch(/toIntervalDay\(3650\)/);
    expect(await tableTtl(platform.store, 'rollup_person_hourly')).toMatch(/toIntervalDay\(396\)/);
    expect(await tableTtl(platform.store, 'reports')).toMatch(/toIntervalDay\(730\)/);
    const changed = await applyRetention(platform.store, { eventsDays: 30, rollupsDays: 400, reportsDays: 365 });
    expect(changed.sort()).toEqual(['alerts', 'events', 'reports', 'rollup_domains_hourly', 'rollup_org_hourly', 'rollup_person_hourly']);
    expect(await tableTtl(platform.store, 'events')).toMatch(/toIntervalDay\(30\)/);
    expect(await tableTtl(platform.store, 'rollup_org_hourly')).toMatch(/toIntervalDay\(400\)/);
    expect(await tableTtl(platform.store, 'reports')).toMatch(/toIntervalDay\(365\)/);
    expect(await applyRetention(platform.store, { eventsDays: 30, rollupsDays: 400, reportsDays: 365 })).toEqual([]);
    expect(await tableTtl(platform.store, 'audit_log')).toBe('');
    await applyRetention(platform.store, { eventsDays: 3650, rollupsDays: 396, reportsDays: 730 });
  });
});

describe('investigation and evidence pack', () => {
  const scope = () => ({ investigationId: 'inv-7', subject: 'person0', subjectPseudonym: platform.pseudonyms.user('person0'), allegation: 'visiting adult sites', from: '2026-02-09T00:00:00Z', to: '2026-02-14T00:00:00Z' });

  it('reports the named subject’s activity in scope only', async () => {
    const r = await buildInvestigation(ctx(), scope());
    expect(r.summary.requests).toBe(5 * (16 + 5 + 3 + 1));
    expect(r.summary['blocked attempts']).toBe(5);
    expect(r.tables.activity!.rows.every((row) => String(row[0]) >= '2026-02-09' && String(row[0]) < '2026-02-14')).toBe(true);
  });

  it('exports a signed pack that `fairwatch evidence verify` accepts, and rejects after one changed byte', async () => {
    await auditLogFor(platform.store).append({ actor: 'u-1', actorRole: 'director', action: 'investigation-export', target: 'inv-7', reason: 'test', outcome: 'ok' });
    const out = tempDir('fw-evidence-');
    try {
      const dir = join(out.dir, 'pack');
      const manifest = await exportEvidencePack({ ...ctx(), dataDir }, scope(), dir);
      expect(manifest.audit_head).toMatchObject({ seq: 1 });
      expect(verifyEvidencePack(dir, loadSigningKey(dataDir).publicKeyPem).ok).toBe(true);
      const ok = await runCli(['evidence', 'verify', dir], { env: { FAIRWATCH_DATA_DIR: dataDir } });
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toMatch(/^ok 2 files, signed by this installation's evidence key, audit head seq 1 hash [0-9a-f]{64}\n$/);
      const { readFileSync, writeFileSync } = await import('node:fs');
      const csv = join(dir, 'events.csv');
      const bytes = readFileSync(csv);
      bytes[bytes.length - 5] = bytes[bytes.length - 5] === 0x31 ? 0x32 : 0x31;
      writeFileSync(csv, bytes);
      const bad = await runCli(['evidence', 'verify', join(dir, 'manifest.json')], { env: { FAIRWATCH_DATA_DIR: dataDir } });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('events.csv: SHA-256 does not match the manifest');
    } finally {
      out.cleanup();
    }
  });
});
