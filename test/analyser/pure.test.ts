import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { verifyEvidencePack, writeEvidencePack } from '../../core/evidence/pack.ts';
import { parseSquidLine } from '../../analyser/import/squid-line.ts';
import { toCsv } from '../../core/reports/csv.ts';
import { renderHtml } from '../../core/reports/html.ts';
import { spotCheckSample } from '../../analyser/reports/sample.ts';
import { completedPeriodsSince, periodContaining, previousPeriod } from '../../analyser/schedule/periods.ts';
import { BandClock, emptyBands } from '../../core/timeonline/bands.ts';
import { sessionise, timeOnlineMs } from '../../core/timeonline/sessions.ts';
import { tempDir } from '../helpers/tmp.ts';

const MIN = 60_000;
const rule = { gapMs: 5 * MIN, minimumMs: 1 * MIN };
const at = (iso: string) => Date.parse(iso);

describe('sessionise (time online)', () => {
  it.each([
    ['no requests', [], 0, 0],
    ['one request counts the minimum', [0], 1, 1],
    ['requests within the gap form one session', [0, 2, 4], 1, 5],
    ['a gap exactly the idle gap keeps the session', [0, 5], 1, 6],
    ['a gap longer than the idle gap starts a new one', [0, 6], 2, 2],
    ['order does not matter', [20, 0, 22, 2, 4], 2, 5 + 3],
  ])('%s', (_name, minutes, sessions, onlineMinutes) => {
    const s = sessionise((minutes as number[]).map((m) => m * MIN), rule);
    expect(s.length).toBe(sessions);
    expect(timeOnlineMs(s)).toBe((onlineMinutes as number) * MIN);
  });

  it('clips the minimum at the next session when the minimum exceeds the gap', () => {
    const s = sessionise([0, 3 * MIN], { gapMs: 2 * MIN, minimumMs: 10 * MIN });
    expect(s.map((x) => [x.start, x.end])).toEqual([[0, 3 * MIN], [3 * MIN, 13 * MIN]]);
  });
});

describe('BandClock', () => {
  const clock = new BandClock({ timezone: 'Europe/London', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '09:00', end: '17:00' }, breaks: [{ start: '12:30', end: '13:30' }], bankHolidays: ['2026-04-03'] });

  it.each([
    ['2026-02-10T08:59:00Z', 'out-of-hours'],
    ['2026-02-10T09:00:00Z', 'working'],
    ['2026-02-10T12:30:00Z', 'break'],
    ['2026-02-10T13:30:00Z', 'working'],
    ['2026-02-10T17:00:00Z', 'out-of-hours'],
    ['2026-02-14T10:00:00Z', 'out-of-hours'], // Saturday
    ['2026-04-03T10:00:00Z', 'out-of-hours'], // bank holiday
    ['2026-06-10T08:30:00Z', 'working'], // 09:30 BST
    ['2026-06-10T16:30:00Z', 'out-of-hours'], // 17:30 BST
  ])('%s is %s', (iso, band) => {
    expect(clock.bandAt(at(iso))).toBe(band);
  });

  it('splits an interval across bands', () => {
    const into = emptyBands();
    clock.addInterval(at('2026-02-10T08:30:00Z'), at('2026-02-10T13:45:30Z'), into);
    expect(into).toEqual({ 'out-of-hours': 30 * MIN, working: (3 * 60 + 30 + 15) * MIN + 30_000, break: 60 * MIN });
  });

  it('splits a summer interval in local time', () => {
    const into = emptyBands();
    clock.addInterval(at('2026-06-10T07:50:00Z'), at('2026-06-10T08:10:00Z'), into); // 08:50–09:10 BST
    expect(into).toEqual({ 'out-of-hours': 10 * MIN, working: 10 * MIN, break: 0 });
  });
});

describe('periods', () => {
  const tz = 'Europe/London';
  it('days, weeks and months follow local midnight', () => {
    expect(periodContaining('day', at('2026-06-10T23:30:00Z'), tz)).toEqual({ from: at('2026-06-10T23:00:00Z'), to: at('2026-06-11T23:00:00Z') });
    expect(periodContaining('week', at('2026-02-12T12:00:00Z'), tz)).toEqual({ from: at('2026-02-09T00:00:00Z'), to: at('2026-02-16T00:00:00Z') });
    expect(periodContaining('month', at('2026-03-31T12:00:00Z'), tz)).toEqual({ from: at('2026-03-01T00:00:00Z'), to: at('2026-03-31T23:00:00Z') });
    expect(previousPeriod('day', periodContaining('day', at('2026-03-30T12:00:00Z'), tz), tz)).toEqual({ from: at('2026-03-29T00:00:00Z'), to: at('2026-03-29T23:00:00Z') });
  });
  it('lists the completed periods since the last run, bounded', () => {
    const now = at('2026-02-12T12:00:00Z');
    const days = completedPeriodsSince('day', at('2026-02-09T00:00:00Z'), now, tz, 10);
    expect(days.map((p) => new Date(p.from).toISOString().slice(0, 10))).toEqual(['2026-02-09', '2026-02-10', '2026-02-11']);
    expect(completedPeriodsSince('day', at('2026-01-01T00:00:00Z'), now, tz, 2).map((p) => new Date(p.from).toISOString().slice(0, 10))).toEqual(['2026-02-10', '2026-02-11']);
    expect(completedPeriodsSince('day', at('2026-02-12T00:00:00Z'), now, tz, 10)).toEqual([]);
  });
});

describe('spotCheckSample', () => {
  const candidates = Array.from({ length: 40 }, (_, i) => `p${String(i).padStart(2, '0')}`);
  const period = { from: at('2026-02-01T00:00:00Z'), to: at('2026-03-01T00:00:00Z') };
  const seed = 'a5'.repeat(32);
  it('is reproducible from its seed whatever the order of candidates', () => {
    const a = spotCheckSample(seed, candidates, 5, period, 8 * 3_600_000);
    const b = spotCheckSample(seed, [...candidates].reverse(), 5, period, 8 * 3_600_000);
    expect(b).toEqual(a);
    expect(a.pseudonyms).toHaveLength(5);
    expect(new Set(a.pseudonyms).size).toBe(5);
    expect(a.window.to - a.window.from).toBe(8 * 3_600_000);
    expect(a.window.from).toBeGreaterThanOrEqual(period.from);
    expect(a.window.to).toBeLessThanOrEqual(period.to);
  });
  it('different seeds draw different samples', () => {
    const draws = new Set(Array.from({ length: 8 }, (_, i) => spotCheckSample(String(i).repeat(64).slice(0, 64), candidates, 5, period, 3_600_000).pseudonyms.join()));
    expect(draws.size).toBeGreaterThan(1);
  });
  it('takes everyone when there are fewer candidates than K', () => {
    expect(spotCheckSample(seed, ['b', 'a'], 5, period, 3_600_000).pseudonyms).toEqual(['a', 'b']);
  });
});

describe('parseSquidLine (real Squid lines)', () => {
  const lines = readFileSync(join(import.meta.dirname, '../fixtures/squid/access.log'), 'utf8').split('\n');
  it('parses native lines, CONNECT and denied requests', () => {
    const r = parseSquidLine(lines[0]!);
    expect(r).toEqual({ ok: true, req: expect.objectContaining({ ts: 1771322400120, elapsedMs: 180, client: '192.168.0.224', user: '', squidCode: 'TCP_MISS', status: 200, bytes: 4110, method: 'GET', scheme: 'http', host: 'www.bbc.co.uk', port: 80, path: '/news', contentType: 'text/html' }) });
    const c = parseSquidLine(lines[1]!);
    expect(c.ok && c.req).toMatchObject({ method: 'CONNECT', scheme: 'https', host: 'www.roblox.com', port: 443, path: '', user: 'alice' });
    const d = parseSquidLine(lines[2]!);
    expect(d.ok && d.req).toMatchObject({ squidCode: 'TCP_DENIED', status: 403, host: 'www.bet365.com', user: 'bob' });
    const q = parseSquidLine(lines[3]!);
    expect(q.ok && q.req).toMatchObject({ path: '/tools/setup.exe', query: 'x=1' });
    const u = parseSquidLine(lines[4]!);
    expect(u.ok && u.req.user).toBe('Bob Smith');
  });
  it('parses common and combined lines with their time zone', () => {
    const r = parseSquidLine(lines[8]!);
    expect(r.ok && r.req).toMatchObject({ ts: at('2026-02-17T10:00:07Z'), user: 'carol', host: 'www.example.net', status: 200, bytes: 2326, squidCode: 'TCP_MISS' });
    const c = parseSquidLine(lines[9]!);
    expect(c.ok && c.req).toMatchObject({ ts: at('2026-02-17T10:00:08Z'), method: 'CONNECT', host: 'miniclip.com', user: '' });
  });
  it('names what is wrong with a bad line', () => {
    expect(parseSquidLine(lines[5]!)).toEqual({ ok: false, reason: 'neither Squid native nor common/combined log format' });
    expect(parseSquidLine(lines[6]!)).toEqual({ ok: false, reason: 'status "2OO" is not a number' });
    expect(parseSquidLine(lines[7]!)).toEqual({ ok: false, reason: 'native format needs 10 fields, found 6' });
    expect(parseSquidLine(lines[10]!)).toEqual({ ok: false, reason: 'URL "/relative/only" is not an absolute http(s) URL' });
  });
});

describe('report rendering', () => {
  it('CSV quotes and defuses formulas', () => {
    expect(toCsv({ columns: ['a', 'b'], rows: [['x,y', 3], ['=cmd()', 'say "hi"']] })).toBe('a,b\r\n"x,y",3\r\n\'=cmd(),"say ""hi"""\r\n');
  });
  it('HTML escapes values from the logs and draws charts as SVG', () => {
    const html = renderHtml({ kind: 'audit', period: { from: 'a', to: 'b' }, title: 'T', summary: { k: 1 }, data: {}, notes: [],
      tables: { t: { title: 'x', columns: ['host'], rows: [['<script>alert(1)</script>']] } },
      charts: [{ title: 'c', unit: 'n', labels: ['<b>'], series: [{ name: 's', values: [3] }] }] }, 'Org');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toMatch(/<svg [^>]*role="img"/);
  });
});

describe('evidence pack', () => {
  const keys = () => {
    const k = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    return { privateKeyPem: k.privateKey, publicKeyPem: k.publicKey };
  };
  const make = (dir: string, signingKey = keys()) => {
    writeEvidencePack(dir, {
      investigation: { id: 'inv-1', subject: 'dana', allegation: 'gambling at work', from: '2026-02-01T00:00:00Z', to: '2026-03-01T00:00:00Z' },
      auditHead: { seq: 7, hash: 'ab'.repeat(32) }, columns: ['time', 'domain'], rows: [['2026-02-10T10:00:00Z', 'bet365.com']], signingKey,
    });
    return signingKey;
  };

  it('verifies, and detects one changed byte in any file', () => {
    const t = tempDir();
    try {
      const k = make(t.dir);
      expect(verifyEvidencePack(t.dir, k.publicKeyPem)).toMatchObject({ ok: true, files: 2 });
      for (const name of ['events.csv', 'events.json', 'manifest.json']) {
        const p = join(t.dir, name);
        const orig = readFileSync(p);
        const changed = Buffer.from(orig);
        const mid = Math.floor(changed.length / 2);
        changed[mid] = changed[mid]! ^ 1;
        writeFileSync(p, changed);
        const r = verifyEvidencePack(join(t.dir, 'manifest.json'), k.publicKeyPem);
        expect(r.ok).toBe(false);
        expect(!r.ok && r.problem).toContain(name === 'manifest.json' ? 'manifest' : name);
        writeFileSync(p, orig);
      }
      expect(verifyEvidencePack(t.dir, k.publicKeyPem).ok).toBe(true);
    } finally {
      t.cleanup();
    }
  });

  it('rejects a pack re-signed with another key', () => {
    const t = tempDir();
    try {
      make(t.dir);
      const r = verifyEvidencePack(t.dir, keys().publicKeyPem);
      expect(r).toEqual({ ok: false, problem: expect.stringContaining("not signed by this installation's evidence key") });
    } finally {
      t.cleanup();
    }
  });
});

describe('config', () => {
  it('analyser and retention keys have their defaults', () => {
    const c = parseConfig('', 'x.yaml');
    expect(c.retention).toMatchObject({ eventsDays: 90, rollupsDays: 396, reportsDays: 730 });
    expect(c.analyser.sessionGapMinutes).toBe(5);
    expect(c.analyser.personalCategories).toContain('social_networks');
  });
});

describe('tsv', () => {
  it('escapes tabs, newlines, backslashes and quotes in arrays', async () => {
    const { tsvField } = await import('../../core/storage/tsv.ts');
    expect([tsvField('x\ty\nz\\'), tsvField(["it's", 'ok']), tsvField(3)].join('\t')).toBe("x\\ty\\nz\\\\\t['it\\'s','ok']\t3");
  });
});
