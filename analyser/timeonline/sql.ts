import { offsetMs } from '../schedule/periods.ts';
import type { BandPolicy } from './bands.ts';

// The same time-online method as sessions.ts + bands.ts, in ClickHouse over the hourly rollup, so
// an audit never scans raw events: the minutes that saw a request (epoch minutes) are sessionised
// with the idle gap, each session credited from its first minute to its last plus the minimum
// (clipped at the next session), and every credited minute classed into a band in the
// organisation's time zone. Minute resolution: requests within one minute count as one.
//
// Returns a query yielding (dims…, band, minutes). `dims` are rollup columns to group by.

export function timeOnlineQuery(db: string, dims: string[]): string {
  const d = dims.join(', ');
  const dimsComma = dims.length ? `${d}, ` : '';
  return `
SELECT ${dimsComma}band, count() AS minutes FROM (
  SELECT ${dimsComma}m,
    -- local time by integer arithmetic: the zone's offset changes at most at the instants given
    -- (DST), so no per-minute time-zone conversion is needed
    m + {offsets:Array(Int32)}[arrayCount(x -> x <= m, {offsetChanges:Array(UInt32)}) + 1] AS local,
    intDiv(local, 1440) AS day,
    local % 1440 AS mod,
    multiIf(
      NOT has({workingDays:Array(UInt8)}, toUInt8((day + 3) % 7 + 1)) OR has({holidays:Array(UInt32)}, day), 'out-of-hours',
      mod < {workStart:UInt16} OR mod >= {workEnd:UInt16}, 'out-of-hours',
      arrayExists((s, e) -> mod >= s AND mod < e, {breakStarts:Array(UInt16)}, {breakEnds:Array(UInt16)}), 'break',
      'working') AS band
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
      arrayJoin(arrayFlatten(arrayMap((s, e) -> range(s, e), starts, ends))) AS m
    FROM (
      -- rows of one person-hour may sit in several parts (and actions): the union below merges them
      SELECT user_pseudonym, ${dimsComma}
        arrayMap(x -> toUInt32(intDiv(toUInt32(hour), 60) + x), finalizeAggregation(minutes)) AS mins
      FROM ${db}.rollup_person_hourly
      WHERE hour >= {from:DateTime} AND hour < {to:DateTime}
    )
    GROUP BY user_pseudonym${dims.length ? `, ${d}` : ''}
  )
)
GROUP BY ${dimsComma}band`;
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
