import cron from 'node-cron';
import type { ConsoleDeps } from './deps.ts';
import { listReports } from './reports.ts';

// The overview's figures: organisation-wide totals over the latest audit's period (or the last
// seven days before the first audit), from the rollups, against the period before it. Counts only,
// no pseudonyms: IT sees them without a grant because they say nothing about anyone.

export interface Totals {
  requests: number;
  blocked: number;
  mbDown: number;
  mbUp: number;
  people: number;
}

export interface Headline {
  /** the audit the period comes from, or null for the last seven days */
  reportId: string | null;
  from: number;
  to: number;
  current: Totals;
  previous: Totals;
}

const chSeconds = (t: number) => new Date(t).toISOString().slice(0, 19).replace('T', ' ');

async function totals(deps: ConsoleDeps, from: number, to: number): Promise<Totals> {
  const r = await deps.store.one<{ requests: number; blocked: number; up: number; down: number; people: number }>(
    `SELECT sum(r.requests) AS requests, sumIf(r.requests, action = 'block') AS blocked, sum(r.bytes_up) AS up, sum(r.bytes_down) AS down,
       uniqExactIf(user_pseudonym, user_pseudonym != '') AS people
     FROM ${deps.store.database}.rollup_person_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime}`,
    { from: chSeconds(from), to: chSeconds(to) });
  const mb = (b: unknown) => Math.round((Number(b ?? 0) / 1_048_576) * 10) / 10;
  return { requests: Number(r?.requests ?? 0), blocked: Number(r?.blocked ?? 0), mbDown: mb(r?.down), mbUp: mb(r?.up), people: Number(r?.people ?? 0) };
}

export async function headline(deps: ConsoleDeps): Promise<Headline> {
  const latest = (await listReports(deps, 200)).find((r) => r.kind === 'audit' && r.periodTo > r.periodFrom);
  const to = latest?.periodTo ?? deps.now();
  const from = latest?.periodFrom ?? to - 7 * 86_400_000;
  const span = to - from;
  const [current, previous] = await Promise.all([totals(deps, from, to), totals(deps, from - span, from)]);
  return { reportId: latest?.id ?? null, from, to, current, previous };
}

/** "+12.5%", "−3%", "new", "no change": the direction in words as well as the sign. */
export function trend(now: number, before: number): string {
  if (before === 0) return now === 0 ? 'no change' : 'new';
  const p = Math.round(((now - before) / before) * 1000) / 10;
  return p === 0 ? 'no change' : `${p > 0 ? '+' : '−'}${Math.abs(p)}%`;
}

/** When the spot check next runs (analyser.schedules.spotCheck in the organisation's time zone), or null for a bad expression. */
export function nextSpotCheck(deps: ConsoleDeps): number | null {
  const expr = deps.config.analyser.schedules.spotCheck;
  if (!cron.validate(expr)) return null;
  const task = cron.createTask(expr, () => undefined, { timezone: deps.config.organisation.timezone });
  try {
    // getNextRun answers only for a started task; the schedule itself is what we want
    return task.getNextRuns(1)[0]?.getTime() ?? null;
  } finally {
    void task.destroy();
  }
}
