import { offsetMs } from '../../core/time/zone.ts';
import type { BandPolicy } from '../../core/timeonline/bands.ts';

// The same time-online method as sessions.ts + bands.ts, in ClickHouse over the hourly rollup, so
// an audit never scans raw events: the minutes that saw a request (epoch minutes) are sessionised
// with the idle gap, each session credited from its first minute to its last plus the minimum
// (clipped at the next session), and every credited minute classed into a band in the
// organisation's time zone. Minute resolution: requests within one minute count as one.
//
// Returns a query yielding (dims…, band, minutes). `dims` are rollup columns to group by.
// Sessions are split into bands by interval arithmetic per local day rather than minute by minute:
// it is much faster on a large table (bench/analyser.ts).

export function timeOnlineQuery(db: string, dims: string[]): string {
  const d = dims.join(', ');
  const dimsComma = dims.length ? `${d}, ` : '';
  return `
SELECT ${dimsComma}band_minutes.1 AS band, band_minutes.2 AS minutes FROM (
  SELECT ${dimsComma}sum(working) AS w, sum(brk) AS b, sum(len - work_span) AS o
  FROM (
    -- one row per session and local day it touches; band lengths by interval arithmetic (no
    -- per-minute rows). Local time = UTC + the zone's offset at the session start (offsets change
    -- only at the instants given: DST, at night).
    SELECT ${dimsComma}
      se.1 + {offsets:Array(Int32)}[arrayCount(x -> x <= se.1, {offsetChanges:Array(UInt32)}) + 1] AS ls,
      ls + (se.2 - se.1) AS le,
      arrayJoin(range(toUInt32(intDiv(ls, 1440)), toUInt32(intDiv(le - 1, 1440) + 1))) AS day,
      toInt64(greatest(ls, day * 1440)) - day * 1440 AS a,
      toInt64(least(le, day * 1440 + 1440)) - day * 1440 AS z,
      z - a AS len,
      has({workingDays:Array(UInt8)}, toUInt8((day + 3) % 7 + 1)) AND NOT has({holidays:Array(UInt32)}, day) AS workday,
      if(workday, greatest(0, least(z, {workEnd:Int64}) - greatest(a, {workStart:Int64})), 0) AS work_span,
      if(workday, arraySum(arrayMap((bs, be) -> greatest(0, least(z, be, {workEnd:Int64}) - greatest(a, bs, {workStart:Int64})),
        {breakStarts:Array(Int64)}, {breakEnds:Array(Int64)})), 0) AS brk,
      work_span - brk AS working
    FROM (
      SELECT ${dimsComma}
        arraySort(groupUniqArrayArray(mins)) AS t,
        -- minutes since the previous / until the next request; arrays are passed to the lambdas
        -- element-wise (never indexed inside one), which keeps this linear in the number of minutes
        arrayDifference(t) AS gapBefore,
        arrayPushBack(arrayPopFront(gapBefore), toInt64({gap:UInt32} + 1)) AS gapAfter,
        arrayFilter((x, g, i) -> i = 1 OR g > {gap:UInt32}, t, gapBefore, arrayEnumerate(t)) AS starts,
        arrayFilter((x, g) -> g > {gap:UInt32}, t, gapAfter) AS lasts,
        arrayMap((l, nextStart) -> least(l + {minimum:UInt32}, nextStart), lasts, arrayPushBack(arrayPopFront(starts), toUInt32(4294967295))) AS ends,
        arrayJoin(arrayZip(starts, ends)) AS se
      FROM (
        -- rows of one person-hour may sit in several parts (and actions): the union below merges them.
        -- A row holds its minutes as a bit mask (migration 32 on) or, written before, as a set.
        SELECT user_pseudonym, ${dimsComma}
          arrayMap(x -> toUInt32(intDiv(toUInt32(hour), 60) + x),
            arrayConcat(bitPositionsToArray(minute_mask), finalizeAggregation(minutes))) AS mins
        FROM ${db}.rollup_person_hourly
        WHERE hour >= {from:DateTime} AND hour < {to:DateTime}
      )
      GROUP BY user_pseudonym${dims.length ? `, ${d}` : ''}
    )
  )
  ${dims.length ? `GROUP BY ${d}` : ''}
)
ARRAY JOIN [('working', w), ('break', b), ('out-of-hours', o)] AS band_minutes`;
}

const hm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));

/** Query parameters for timeOnlineQuery (minutes rounded: the SQL path works in whole minutes). */
export function timeOnlineParams(p: BandPolicy, gapMinutes: number, minimumMinutes: number, from: string, to: string): Record<string, unknown> {
  // the zone's UTC offsets over the period (plus a day either side for the minimum's overhang)
  const start = Math.floor((Date.parse(from.replace(' ', 'T') + 'Z') - 86_400_000) / 900_000) * 900_000;
  const end = Date.parse(to.replace(' ', 'T') + 'Z') + 86_400_000;
  const offsets = [Math.round(offsetMs(start, p.timezone) / 60_000)];
  const offsetChanges: number[] = [];
  for (let t = start + 900_000; t <= end; t += 900_000) {
    const o = Math.round(offsetMs(t, p.timezone) / 60_000);
    if (o !== offsets[offsets.length - 1]) {
      offsets.push(o);
      offsetChanges.push(Math.floor(t / 60_000)); // zones change on quarter hours
    }
  }
  return {
    offsets,
    offsetChanges,
    workingDays: p.workingDays,
    holidays: p.bankHolidays.map((d) => Math.floor(Date.parse(`${d}T00:00:00Z`) / 86_400_000)),
    workStart: hm(p.workingHours.start),
    workEnd: hm(p.workingHours.end),
    breakStarts: p.breaks.map((b) => hm(b.start)),
    breakEnds: p.breaks.map((b) => hm(b.end)),
    gap: Math.round(gapMinutes),
    minimum: Math.round(minimumMinutes),
    from,
    to,
  };
}
