import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBatch } from '../../analyser/ingest/event-batch.ts';
import { AlertDetector } from '../../core/alerts/detector.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import { encodeEvent } from '../../core/events/wire.ts';
import { alertId, alertRuleFor, periodOf, watchedCategories, windowsToCheck } from '../../core/alerts/rules.ts';
import { AlertStore } from '../../core/alerts/store.ts';
import { ConfigError, parseConfig } from '../../core/config/load.ts';
import type { Platform } from '../../core/platform.ts';
import { openTestPlatform } from '../helpers/platform.ts';

// policy.alerts: the configuration's errors, the pure rules (per group, windows, ids), and the
// detector against the real embedded ClickHouse and Redis: counts come from stored events, so a
// batch checked twice raises nothing twice.

const cfg = (yaml: string) => parseConfig(yaml, 'alerts.yaml');

describe('policy.alerts configuration', () => {
  it('defaults: UT1 serious categories, 10 an hour, 30 a day, nobody mailed', () => {
    const a = cfg('').policy.alerts;
    expect(a).toMatchObject({ enabled: true, perHour: 10, perDay: 30, notify: [] });
    expect(a.categories).toEqual(['adult', 'violence', 'aggressive', 'drugs', 'hacking', 'malware', 'phishing', 'stalkerware', 'vpn', 'proxy', 'doh']);
  });

  it.each([
    ['policy:\n  alerts:\n    perHour: null\n    perDay: null\n', /alerts\.yaml:3.*perHour and perDay are both null/],
    ['policy:\n  alerts:\n    notify: [safeguarding@example.org]\n', /policy\.alerts\.notify.*console\.smtp/],
    ['policy:\n  alerts:\n    notify: [not-an-address]\n', /policy\.alerts\.notify\.0.*e-mail address/],
    ['policy:\n  alerts:\n    perHour: 0\n', /policy\.alerts\.perHour/],
    ['policy:\n  alerts:\n    groups: { nobody: { perHour: 2 } }\n', /no group "nobody" in policy\.groups/],
    ['policy:\n  alerts:\n    groups: { guests: { perHour: null, perDay: null } }\n', /group guests: perHour and perDay are both null/],
    ['policy:\n  alerts:\n    categories: ["../etc"]\n', /policy\.alerts\.categories\.0.*category name/],
    ['policy:\n  alerts:\n    perhour: 3\n', /perhour/],
  ])('%s is refused with an error naming the key', (yaml, message) => {
    expect(() => cfg(yaml)).toThrow(ConfigError);
    expect(() => cfg(yaml)).toThrow(message);
  });

  it('a group\'s own settings over the defaults; off for a group', () => {
    const a = cfg('policy:\n  alerts:\n    categories: [adult, vpn]\n    groups:\n      guests: { perHour: 2, perDay: null, categories: [vpn] }\n      it: { enabled: false }\n').policy.alerts;
    expect(alertRuleFor(a, 'staff')).toEqual({ categories: new Set(['adult', 'vpn']), perHour: 10, perDay: 30 });
    expect(alertRuleFor(a, 'guests')).toEqual({ categories: new Set(['vpn']), perHour: 2, perDay: null });
    expect(alertRuleFor(a, 'it')).toBeNull();
    expect(watchedCategories(a)).toEqual(new Set(['adult', 'vpn']));
    const off = cfg('policy:\n  alerts:\n    enabled: false\n    groups: { guests: { enabled: true, categories: [proxy] } }\n').policy.alerts;
    expect(alertRuleFor(off, 'staff')).toBeNull();
    expect(watchedCategories(off)).toEqual(new Set(['proxy']));
  });
});

describe('windows', () => {
  it('an hour is the clock hour; a day is the local calendar day (across the clock change)', () => {
    const t = Date.parse('2026-03-29T10:17:00Z');
    expect(periodOf('hour', t, 'Europe/London')).toEqual({ from: Date.parse('2026-03-29T10:00:00Z'), to: Date.parse('2026-03-29T11:00:00Z') });
    // 29 March 2026: clocks go forward in London, a 23-hour day
    expect(periodOf('day', t, 'Europe/London')).toEqual({ from: Date.parse('2026-03-29T00:00:00Z'), to: Date.parse('2026-03-29T23:00:00Z') });
    expect(periodOf('day', Date.parse('2026-07-01T23:30:00Z'), 'Europe/London')).toEqual({ from: Date.parse('2026-07-01T23:00:00Z'), to: Date.parse('2026-07-02T23:00:00Z') });
  });

  it('one window per person, category and period; other categories and groups without alerts are left out', () => {
    const a = cfg('policy:\n  alerts:\n    categories: [adult]\n    groups: { it: { enabled: false } }\n').policy.alerts;
    const t = Date.parse('2026-05-05T09:10:00Z');
    const w = windowsToCheck([
      { ts: t, pseudonym: 'p1', group: 'staff', category: 'adult' },
      { ts: t + 60_000, pseudonym: 'p1', group: 'staff', category: 'adult' },
      { ts: t + 3_600_000, pseudonym: 'p1', group: 'staff', category: 'adult' },
      { ts: t, pseudonym: 'p2', group: 'staff', category: 'gambling' },
      { ts: t, pseudonym: 'p3', group: 'it', category: 'adult' },
      { ts: t, pseudonym: '', group: 'staff', category: 'adult' },
    ], a, 'Europe/London');
    expect(w.map((x) => `${x.pseudonym} ${x.kind} ${new Date(x.from).toISOString()}`).sort()).toEqual([
      'p1 day 2026-05-04T23:00:00.000Z', 'p1 hour 2026-05-05T09:00:00.000Z', 'p1 hour 2026-05-05T10:00:00.000Z',
    ]);
    expect(new Set(w.map((x) => x.id)).size).toBe(3);
    expect(alertId('p1', 'adult', 'hour', 1)).not.toBe(alertId('p2', 'adult', 'hour', 1));
  });
});

describe('a batch\'s blocked attempts', () => {
  it('finds exactly the blocked lines in the watched categories, whatever else the lines hold', () => {
    const line = (n: number, action: string, category: string, path = '/') => encodeEvent({
      ts: new Date(Date.UTC(2026, 4, 5, 9, 0, n)).toISOString(), event_id: randomUUID(), user_pseudonym: `p${n % 2}`, user_group: n % 2 ? 'guests' : 'staff', client_pseudonym: 'c',
      method: 'GET', scheme: 'http', host: 'h.example', port: 80, path, query: '', status: 403, bytes_up: 0, bytes_down: 0, duration_ms: 1, content_type: '', filename: '',
      category, action, rule: 'r', flags: [], source: 'proxy',
    } as unknown as AccessEvent);
    const b = new EventBatch();
    b.addEntry('1-0', ['t1', [line(0, 'allow', 'news', '/\tblock\t'), line(1, 'block', 'adult'), line(2, 'block', 'gambling'), line(3, 'warn', 'adult')].join('\n')]);
    b.addEntry('2-0', ['t1', [line(4, 'allow', 'adult'), line(5, 'block', 'phishing')].join('\n')]);
    b.addEntry('3-0', ['t1', line(6, 'allow', 'adult')]);
    const got = b.blockedAttempts(new Set(['adult', 'phishing']));
    expect(got.map((a) => `${a.pseudonym} ${a.group} ${a.category} ${new Date(a.ts).getUTCSeconds()}`)).toEqual(['p1 guests adult 1', 'p1 guests phishing 5']);
    expect(b.blockedAttempts(new Set())).toEqual([]);
  });
});

describe('the detector on the real store', () => {
  let p: Platform;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const t = await openTestPlatform({ yaml: 'policy:\n  alerts:\n    categories: [adult]\n    perHour: 3\n    perDay: 5\n' });
    p = t.platform;
    cleanup = t.cleanup;
  }, 120_000);
  afterAll(async () => { await cleanup?.(); });

  const event = (who: string, ts: number, extra: Record<string, unknown> = {}) => ({
    ts: new Date(ts).toISOString(), event_id: randomUUID(), user_pseudonym: who, user_group: 'staff', client_pseudonym: 'c', method: 'GET', scheme: 'http',
    host: 'adult.example', port: 80, path: '/', status: 403, bytes_up: 0, bytes_down: 0, duration_ms: 1, content_type: 'text/html', filename: '',
    category: 'adult', action: 'block', rule: 'rule:x', flags: [], ...extra,
  });

  it('raises once the stored count reaches the threshold, per person, and never twice for the same window', async () => {
    const alerts = new AlertStore(p.store);
    const mailed: unknown[] = [];
    const d = new AlertDetector({ config: p.config, alerts, redis: p.redis, log: p.log, mail: async (f) => { mailed.push(f); } });
    // yesterday 09:00 London: recent enough for the tables' TTL, two hours inside one local day
    const base = periodOf('day', Date.now() - 86_400_000, 'Europe/London').from + 9 * 3_600_000;
    const rows = [event('pa', base + 1000), event('pa', base + 2000), event('pb', base + 3000), event('pb', base + 4000), event('pa', base + 5000, { action: 'allow' })];
    await p.store.insert('events', rows);
    const attempts = rows.map((r) => ({ ts: Date.parse(r.ts), pseudonym: r.user_pseudonym, group: 'staff', category: 'adult' }));
    await d.check(attempts);
    expect(await alerts.list()).toEqual([]);
    const third = event('pa', base + 6000);
    await p.store.insert('events', [third]);
    await d.check([{ ts: base + 6000, pseudonym: 'pa', group: 'staff', category: 'adult' }]);
    await d.check([{ ts: base + 6000, pseudonym: 'pa', group: 'staff', category: 'adult' }]); // the same batch again
    const list = await alerts.list();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ pseudonym: 'pa', category: 'adult', kind: 'hour', attempts: 3, threshold: 3, status: 'open', firstSeen: base + 1000, lastSeen: base + 6000 });
    expect(await alerts.openCount()).toBe(1);
    // the mail is sent without waiting; the SET NX marker is what keeps it to one
    await new Promise((r) => setImmediate(r));
    expect(mailed).toEqual([{ category: 'adult', kind: 'hour', from: base, to: base + 3_600_000, attempts: 3, threshold: 3 }]);
    // two more in another hour: the day reaches 5
    await p.store.insert('events', [event('pa', base + 3_600_000 + 1), event('pa', base + 3_600_000 + 2)]);
    await d.check([{ ts: base + 3_600_000 + 2, pseudonym: 'pa', group: 'staff', category: 'adult' }]);
    const now = await alerts.list();
    expect(now.map((a) => `${a.kind} ${a.attempts}`).sort()).toEqual(['day 5', 'hour 3']);
    await alerts.act(list[0]!.id, 'dismiss', 'u1', 'checked');
    expect((await alerts.get(list[0]!.id))).toMatchObject({ status: 'dismissed', reason: 'checked', actedBy: 'u1' });
    expect(await alerts.openCount()).toBe(1);
    expect(await alerts.get('not-an-id')).toBeNull();
  }, 120_000);
});
