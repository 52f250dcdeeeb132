import type { Topology } from './ddl.ts';

// Materialized views that keep the analyser's rollups current as events are inserted, so routine
// reports never scan raw events. In a cluster each node's view reads its local events table and
// writes its local rollup tables (sharded like events); reads go through the Distributed tables.

const EXECUTABLE = "has(flags, 'executable')";
const LARGE_UPLOAD = "has(flags, 'large-upload')";

export function rollupViews(db: string, topology: Topology): string[] {
  const local = (t: string) => (topology.kind === 'single' ? t : `${t}_local`);
  const on = topology.kind === 'single' ? '' : ` ON CLUSTER '${topology.cluster}'`;
  const events = `${db}.${local('events')}`;
  const hour = 'toStartOfHour(toDateTime(ts))';
  return [
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.rollup_person_hourly_mv${on} TO ${db}.${local('rollup_person_hourly')} AS
     SELECT ${hour} AS hour, user_pseudonym, user_group, category, action,
       count() AS requests, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,
       countIf(${EXECUTABLE}) AS executables, countIf(${LARGE_UPLOAD}) AS large_uploads,
       sumIf(e.bytes_up, ${LARGE_UPLOAD}) AS large_upload_bytes,
       countIf(startsWith(rule, 'exception:')) AS exceptions_used,
       groupUniqArrayState(toUInt8(toMinute(ts))) AS minutes
     FROM ${events} AS e GROUP BY hour, user_pseudonym, user_group, category, action`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.rollup_org_hourly_mv${on} TO ${db}.${local('rollup_org_hourly')} AS
     SELECT ${hour} AS hour, user_group, category, action,
       count() AS requests, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,
       uniqState(user_pseudonym) AS people
     FROM ${events} GROUP BY hour, user_group, category, action`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.rollup_domains_hourly_mv${on} TO ${db}.${local('rollup_domains_hourly')} AS
     SELECT ${hour} AS hour, category, host, action,
       count() AS requests, sum(bytes_down) AS bytes_down, countIf(${EXECUTABLE}) AS executables
     FROM ${events} GROUP BY hour, category, host, action`,
  ];
}
