import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInvestigation } from '../../core/reports/investigation.ts';
import type { Platform } from '../../core/platform.ts';
import { activityInScope } from '../../dashboards/activity.ts';
import type { ConsoleDeps } from '../../dashboards/deps.ts';
import { openTestPlatform } from '../helpers/platform.ts';

// One time-online rule. The console's investigation page (dashboards/activity.ts)
// and the sealed investigation report (core/reports/investigation.ts) give the same figure for the
// same stored events, by the rule in core/timeonline/sessions.ts: a session runs from its first
// request to its last plus analyser.sessionMinimumMinutes (default 1), and a silence longer than
// analyser.sessionGapMinutes (default 5) starts a new one.

let platform: Platform;
let cleanup: () => Promise<void>;
beforeAll(async () => { ({ platform, cleanup } = await openTestPlatform({ redis: false })); }, 60_000);
afterAll(async () => { await cleanup?.(); });

const MIN = 60_000;
// yesterday 09:00 UTC: inside the default retention
const DAY0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000 + 9 * 60 * MIN;

async function store(person: string, minutes: number[]): Promise<string> {
  const pseudonym = platform.pseudonyms.user(person);
  await platform.store.insert('events', minutes.map((m) => ({
    ts: new Date(DAY0 + m * MIN).toISOString(), event_id: randomUUID(), user_pseudonym: pseudonym, user_group: 'staff',
    client_pseudonym: platform.pseudonyms.client('192.168.1.9'), method: 'GET', scheme: 'https', host: 'news.example', port: 443,
    path: '/', status: 200, bytes_up: 100, bytes_down: 1000, duration_ms: 12, content_type: 'text/html', filename: '',
    category: 'news', action: 'allow', rule: 'default', flags: [], source: 'proxy',
  })));
  return pseudonym;
}

async function bothSurfaces(pseudonym: string, person: string): Promise<{ page: number; report: number }> {
  const from = DAY0 - 60 * MIN;
  const to = DAY0 + 24 * 60 * MIN;
  const page = await activityInScope({ store: platform.store, config: platform.config } as ConsoleDeps, { pseudonym, from, to, kinds: [] });
  const built = await buildInvestigation({ store: platform.store, config: platform.config }, {
    investigationId: 'i1', subject: person, subjectPseudonym: pseudonym, allegation: 'test',
    from: new Date(from).toISOString(), to: new Date(to).toISOString(),
  });
  const s = built.summary as Record<string, number>;
  const report = s['minutes online (working)']! + s['minutes online (breaks)']! + s['minutes online (out of hours)']!;
  return { page: page.time_online_minutes, report: Math.round(report * 100) / 100 };
}

describe('one time-online rule for the console and the reports', () => {
  it.each([
    ['09:00 and 09:04 (the issue\'s case): one session, 09:00 to 09:05', 'ann', [0, 4], 5],
    ['a lone request counts the minimum', 'bea', [0], 1],
    ['a silence longer than the gap starts a new session', 'cat', [0, 2, 20, 21], 3 + 2],
    ['a silence of exactly the gap keeps the session', 'dan', [0, 5], 6],
    ['a morning and an afternoon', 'eve', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 300, 330, 331], 11 + 1 + 2],
  ])('%s', async (_name, person, minutes, expected) => {
    const pseudonym = await store(person, minutes);
    expect(await bothSurfaces(pseudonym, person)).toEqual({ page: expected, report: expected });
  }, 60_000);
});
