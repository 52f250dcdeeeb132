// Report periods in the organisation's time zone: a day, a Monday-to-Monday week or a calendar
// month, each [from, to) in ms since epoch. Pure apart from Intl for the zone arithmetic.

import { localDate, offsetMs } from '../../core/time/zone.ts';

export type PeriodKind = 'day' | 'week' | 'month';
export interface Period { from: number; to: number }


/** The instant local midnight starts on the given calendar date (month/day may overflow). */
export function localMidnight(y: number, m: number, d: number, tz: string): number {
  const guess = Date.UTC(y, m - 1, d);
  let t = guess - offsetMs(guess, tz);
  t = guess - offsetMs(t, tz);
  return t;
}

export function periodContaining(kind: PeriodKind, t: number, tz: string): Period {
  const { y, m, d } = localDate(t, tz);
  if (kind === 'day') return { from: localMidnight(y, m, d, tz), to: localMidnight(y, m, d + 1, tz) };
  if (kind === 'month') return { from: localMidnight(y, m, 1, tz), to: localMidnight(y, m + 1, 1, tz) };
  const weekday = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7; // Monday = 0
  return { from: localMidnight(y, m, d - weekday, tz), to: localMidnight(y, m, d - weekday + 7, tz) };
}

/** The period just before `p` (same kind). */
export function previousPeriod(kind: PeriodKind, p: Period, tz: string): Period {
  return periodContaining(kind, p.from - 1, tz);
}

/**
 * Periods that ended at or before `now` and start at or after `after` (the end of the last period
 * already run), oldest first, at most `max` (the newest ones when more were missed).
 */
export function completedPeriodsSince(kind: PeriodKind, after: number, now: number, tz: string, max: number): Period[] {
  const out: Period[] = [];
  let p = previousPeriod(kind, periodContaining(kind, now, tz), tz);
  while (p.from >= after && out.length < max) {
    out.unshift(p);
    p = previousPeriod(kind, p, tz);
  }
  return out;
}
