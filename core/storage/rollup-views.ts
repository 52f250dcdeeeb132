import type { Topology } from './ddl.ts';

// Materialized views that keep the analyser's rollups current as events are inserted, so routine
// reports never scan raw events. In a cluster each node's view reads its local events table and
// writes its local rollup tables (sharded like events); reads go through the Distributed tables.

const EXECUTABLE = "has(flags, 'executable')";
const LARGE_UPLOAD = "has(flags, 'large-upload')";

const HOUR = 'toStartOfHour(toDateTime(ts))';

/** The person rollup's SELECT, with `minutes` the expression of the minutes-of-the-hour column. */
function personSelect(events: string, minutes: string): string {
  return `SELECT ${HOUR} AS hour, user_pseudonym, user_group, category, action,
       count() AS requests, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,
       countIf(${EXECUTABLE}) AS executables, countIf(${LARGE_UPLOAD}) AS large_uploads,
       sumIf(e.bytes_up, ${LARGE_UPLOAD}) AS large_upload_bytes,
       countIf(startsWith(rule, 'exception:')) AS exceptions_used,
       ${minutes}
     FROM ${events} AS e GROUP BY hour, user_pseudonym, user_group, category, action`;
}

function names(db: string, topology: Topology) {
  const local = (t: string) => (topology.kind === 'single' ? t : `${t}_local`);
  return { local, on: topology.kind === 'single' ? '' : ` ON CLUSTER '${topology.cluster}'`, events: `${db}.${local('events')}` };
}

/** The views as migration 30 created them (shipped: never change what this returns). */
export function rollupViews(db: string, topology: Topology): string[] {
  const { local, on, events } = names(db, topology);
  return [
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.rollup_person_hourly_mv${on} TO ${db}.${local('rollup_person_hourly')} AS
     ${personSelect(events, 'groupUniqArrayState(toUInt8(toMinute(ts))) AS minutes')}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.rollup_org_hourly_mv${on} TO ${db}.${local('rollup_org_hourly')} AS
     SELECT ${HOUR} AS hour, user_group, category, action,
       count() AS requests, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,
       uniqState(user_pseudonym) AS people
     FROM ${events} GROUP BY hour, user_group, category, action`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.rollup_domains_hourly_mv${on} TO ${db}.${local('rollup_domains_hourly')} AS
     SELECT ${HOUR} AS hour, category, host, action,
       count() AS requests, sum(bytes_down) AS bytes_down, countIf(${EXECUTABLE}) AS executables
     FROM ${events} GROUP BY hour, category, host, action`,
  ];
}

/**
 * Migration 32: the person rollup records the minutes of an hour that saw a request as a 60-bit
 * mask (`minute_mask`, OR-ed by merges) instead of a groupUniqArray state (`minutes`). The hash set
 * per row group made this view the costliest of the three; with the mask, inserts of Squid import
 * blocks through all three views went from 193k to 226k rows/s (medians of 6 alternating runs). Rows written before keep
 * their `minutes` (and a backup taken before restores into it): readers take the union of both
 * (timeonline/sql.ts). The view's query is swapped in place, so no insert is missed or counted
 * twice while it changes.
 */
export function minuteMaskStatements(db: string, topology: Topology): string[] {
  const { local, on, events } = names(db, topology);
  const column = 'minute_mask SimpleAggregateFunction(groupBitOr, UInt64)';
  return [
    `ALTER TABLE ${db}.${local('rollup_person_hourly')}${on} ADD COLUMN IF NOT EXISTS ${column}`,
    // a cluster's Distributed table mirrors the local one's columns
    ...(topology.kind === 'single' ? [] : [`ALTER TABLE ${db}.rollup_person_hourly${on} ADD COLUMN IF NOT EXISTS ${column}`]),
    `ALTER TABLE ${db}.rollup_person_hourly_mv${on} MODIFY QUERY
     ${personSelect(events, 'groupBitOr(bitShiftLeft(toUInt64(1), toMinute(ts))) AS minute_mask')}`,
  ];
}

/** The tables the rollup views write. */
export const ROLLUP_TABLES = ['rollup_person_hourly', 'rollup_org_hourly', 'rollup_domains_hourly'] as const;

/**
 * Migration 33: the rollup tables keep a deduplication window, as `events` does. A batch retried
 * with the same token (an insert that went through although the client saw it fail) was dropped
 * by `events` but still went through the views, so the rollups counted it twice. With the window,
 * and `deduplicate_blocks_in_dependent_materialized_views` on every insert that carries a token
 * (Store), the views' blocks of a retried batch are dropped too. Replicated tables (a cluster's
 * local tables) have their own replicated window, so there is nothing to change there.
 */
export function rollupDedupStatements(db: string, topology: Topology): string[] {
  if (topology.kind !== 'single') return [];
  return ROLLUP_TABLES.map((t) => `ALTER TABLE ${db}.${t} MODIFY SETTING non_replicated_deduplication_window = 10000`);
}
