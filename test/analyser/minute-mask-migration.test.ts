import { describe, expect, it } from 'vitest';
import { buildAudit } from '../../analyser/reports/audit.ts';
import { minuteMaskStatements, rollupViews } from '../../core/storage/rollup-views.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { EXPECTED, syntheticMonth } from './synthetic.ts';

// Migration 32 changed how the person rollup records the minutes of an hour that saw a request
// (a groupUniqArray state before, a bit mask after). Databases migrated from before hold both
// forms, often for the same person-hour; time online must come out the same. Its own file: the
// embedded engine allows one data directory per process.

const YAML = `
retention:
  eventsDays: 3650
policy:
  time: { bankHolidays: ['2026-06-11'] }
`;
const FEB = { from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' };

describe('person rollup minutes, before and after migration 32', () => {
  it('migration 32: person-hours rolled up before it (minutes as a set) and after (a bit mask) give the same time online', async () => {
    const old = await openTestPlatform({ yaml: YAML, redis: false });
    try {
      const { store } = old.platform;
      // put the view back as migration 30 made it, roll half the month up that way, then migrate
      const v30 = rollupViews(store.database, { kind: 'single' })[0]!;
      await store.command(`ALTER TABLE ${store.database}.rollup_person_hourly_mv MODIFY QUERY ${v30.slice(v30.indexOf(' AS\n') + 4)}`);
      const month = syntheticMonth(old.platform.pseudonyms);
      // every other event: most person-hours end up with rows in both forms
      const [before, after] = [month.filter((_, i) => i % 2 === 0), month.filter((_, i) => i % 2 === 1)];
      for (let i = 0; i < before.length; i += 2000) await store.insert('events', before.slice(i, i + 2000));
      for (const sql of minuteMaskStatements(store.database, { kind: 'single' })) await store.command(sql);
      for (let i = 0; i < after.length; i += 2000) await store.insert('events', after.slice(i, i + 2000));
      const forms = await store.one<{ sets: number; masks: number }>(
        `SELECT countIf(length(finalizeAggregation(minutes)) > 0) AS sets, countIf(minute_mask > 0) AS masks FROM ${store.database}.rollup_person_hourly`);
      expect(Number(forms!.sets)).toBeGreaterThan(0);
      expect(Number(forms!.masks)).toBeGreaterThan(0);
      const r = await buildAudit({ store, config: old.platform.config }, FEB, 'monthly');
      const sum = { working: 0, break: 0, 'out-of-hours': 0 } as Record<string, number>;
      for (const g of r.data.groups as Array<{ online_minutes: Record<string, number> }>) for (const [b, m] of Object.entries(g.online_minutes)) sum[b] = (sum[b] ?? 0) + m;
      expect(sum).toEqual(EXPECTED.minutes);
      expect((r.data.totals as Record<string, number>).requests).toBe(EXPECTED.requests);
      // and after the engine merges the parts (sets and masks of one key folded into one row)
      await store.command(`OPTIMIZE TABLE ${store.database}.rollup_person_hourly FINAL`);
      const merged = await buildAudit({ store, config: old.platform.config }, FEB, 'monthly');
      expect(merged.data.groups).toEqual(r.data.groups);
    } finally {
      await old.cleanup();
    }
  }, 60_000);

});
