// Report periods in the organisation's time zone: a day, a Monday-to-Monday week or a calendar
// month, each [from, to) in ms since epoch. Pure apart from Intl for the zone arithmetic.

export type PeriodKind = 'day' | 'week' | 'month';
export interface Period { from: number; to: number }

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    fmtCache.set(tz, f);
  }
  return f;
}

/** Local calendar date (y, m 1-12, d) of an instant. */
export function localDate(t: number, tz: string): { y: number; m: number; d: number } {
  const p: Record<string, string> = {};
  for (const x of fmt(tz).formatToParts(new Date(t))) p[x.type] = x.value;
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day) };
}

/** Offset of local time from UTC at instant `t`, in ms (e.g. +3 600 000 in a London summer). */
export function offsetMs(t: number, tz: string): number {
  const p: Record<string, string> = {};
  for (const x of fmt(tz).formatToParts(new Date(t))) p[x.type] = x.value;
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return asUtc - Math.floor(t / 1000) * 1000;
}

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
