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
    toDateTime(toUInt32(m) * 60, {tz:String}) AS lt,
    toHour(lt) * 60 + toMinute(lt) AS mod,
    multiIf(
      NOT has({workingDays:Array(UInt8)}, toDayOfWeek(lt)) OR has({holidays:Array(Date)}, toDate(lt)), 'out-of-hours',
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
  return {
    tz: p.timezone,
    workingDays: p.workingDays,
    holidays: p.bankHolidays,
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
