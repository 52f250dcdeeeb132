import { createLogger } from '../../core/log.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOBS } from '../../analyser/schedule/jobs.ts';
import { AnalyserScheduler } from '../../analyser/schedule/scheduler.ts';
import { parseConfig } from '../../core/config/load.ts';
import { loadKey } from '../../core/keys.ts';
import type { Platform } from '../../core/platform.ts';
import { listReports, openStoredReport } from '../../core/reports/storage.ts';
import { connectRedis } from '../../core/storage/redis.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { syntheticMonth } from './synthetic.ts';

// The schedule on real Redis and the embedded ClickHouse: catch-up after missed runs, one runner
// per period across instances, run records.

let platform: Platform;
let dataDir: string;
let cleanup: () => Promise<void>;
const extraRedis: Array<{ disconnect(): void }> = [];

beforeAll(async () => {
  ({ platform, dataDir, cleanup } = await openTestPlatform({ yaml: 'retention: { eventsDays: 3650 }\n' }));
  const events = syntheticMonth(platform.pseudonyms);
  for (let i = 0; i < events.length; i += 5000) await platform.store.insert('events', events.slice(i, i + 5000));
}, 120_000);
afterAll(async () => {
  for (const r of extraRedis) r.disconnect();
  await cleanup?.();
});

function scheduler(runner: string) {
  const redis = connectRedis(platform.redisUrl, createLogger('test'));
  extraRedis.push(redis);
  return new AnalyserScheduler({ store: platform.store, redis, config: platform.config, log: platform.log, runner, masterKey: loadKey(dataDir, 'report-master', {}) });
}
const job = (name: string) => JOBS.find((j) => j.name === name)!;
const at = (iso: string) => Date.parse(iso);

describe('analyser schedule', () => {
  it('records a baseline on first start instead of building reports for days it was not running', async () => {
    const s = scheduler('a');
    expect(await s.runDue(job('weekly-audit'), at('2026-02-12T12:00:00Z'), 'catch-up')).toEqual([]);
    const runs = await s.runs.list('weekly-audit');
    expect(runs).toMatchObject([{ trigger: 'baseline', status: 'skipped', period_from: '2026-02-02 00:00:00.000', period_to: '2026-02-09 00:00:00.000' }]);
    // a week later the following week is due and built
    const out = await s.runDue(job('weekly-audit'), at('2026-02-19T12:00:00Z'), 'scheduled');
    expect(out).toEqual([{ outcome: 'ok', reportId: expect.any(String) }]);
  });

  it('catches up every period missed while stopped, oldest first, and only once', async () => {
    const s = scheduler('a');
    const nightly = job('nightly-audit');
    const first = await s.runs.begin('nightly-audit', { from: at('2026-02-09T00:00:00Z'), to: at('2026-02-10T00:00:00Z') }, 'scheduled');
    await s.runs.finish(first, 'ok', { report_id: 'earlier' });
    // stopped on the 10th; started again at noon on the 13th: the 10th, 11th and 12th were missed
    const out = await s.catchUp(at('2026-02-13T12:00:00Z'));
    expect(out['nightly-audit']!.map((o) => o.outcome)).toEqual(['ok', 'ok', 'ok']);
    const runs = (await s.runs.list('nightly-audit')).filter((r) => r.trigger === 'catch-up');
    expect(runs.map((r) => r.period_from).sort()).toEqual(['2026-02-10 00:00:00.000', '2026-02-11 00:00:00.000', '2026-02-12 00:00:00.000']);
    expect(runs.every((r) => r.status === 'ok' && r.report_id)).toBe(true);
    const opened = await openStoredReport(platform.store, loadKey(dataDir, 'report-master', {}), runs.find((r) => r.period_from.startsWith('2026-02-11'))!.report_id);
    expect(opened.payload.period).toEqual({ from: '2026-02-11T00:00:00.000Z', to: '2026-02-12T00:00:00.000Z' });
    expect((opened.payload.json as { totals: { requests: number } }).totals.requests).toBe(10 * (16 + 5) + 5 * 3 + 1 + 10);
    expect(await s.runDue(nightly, at('2026-02-13T13:00:00Z'), 'scheduled')).toEqual([]);
  });

  it('lets one runner build a period when two analysers fire at once', async () => {
    const a = scheduler('runner-a');
    const b = scheduler('runner-b');
    const period = { from: at('2026-02-16T00:00:00Z'), to: at('2026-02-17T00:00:00Z') };
    const before = (await listReports(platform.store)).length;
    const outcomes = await Promise.all([a.runPeriod(job('nightly-audit'), period, 'scheduled'), b.runPeriod(job('nightly-audit'), period, 'scheduled')]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['locked', 'ok']);
    expect((await listReports(platform.store)).length).toBe(before + 1);
    // once the holder is done, a late runner sees it already ran
    expect(await b.runPeriod(job('nightly-audit'), period, 'scheduled')).toEqual({ outcome: 'already-run' });
    const runs = (await a.runs.list('nightly-audit')).filter((r) => r.period_from.startsWith('2026-02-16'));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'ok', trigger: 'scheduled' });
    expect(await platform.redis.keys('fairwatch:lock:analyser:*')).toEqual([]);
  });

  it('spot checks run on schedule too, with the seed in the report', async () => {
    const s = scheduler('a');
    const r = await s.runPeriod(job('spot-check'), { from: at('2026-02-16T00:00:00Z'), to: at('2026-02-23T00:00:00Z') }, 'scheduled');
    expect(r.outcome).toBe('ok');
    const opened = await openStoredReport(platform.store, loadKey(dataDir, 'report-master', {}), (r as { reportId: string }).reportId);
    expect(opened.payload.kind).toBe('spot-check');
    expect((opened.payload.json as { seed: string }).seed).toMatch(/^[0-9a-f]{64}$/);
    expect((opened.payload.json as { sample: string[] }).sample).toHaveLength(5);
  });

  it('starts cron tasks for valid schedules and names a bad one', async () => {
    const ok = scheduler('a');
    ok.start();
    await ok.stop();
    const bad = new AnalyserScheduler({ store: platform.store, redis: platform.redis, log: platform.log, masterKey: Buffer.alloc(32),
      config: parseConfig('analyser: { schedules: { spotCheck: "every monday" } }\n', 't.yaml') });
    expect(() => bad.start()).toThrow('analyser.schedules: "every monday" for spot-check is not a valid cron expression');
    await bad.stop();
  });
});
