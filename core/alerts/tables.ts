import type { Migration } from '../storage/migrations.ts';
import { createTable, type TableSpec } from '../storage/ddl.ts';

// Alerts (issue 19). An alert is (pseudonym, category, window); each check that finds the threshold
// reached writes a row with the window's counts so far, and the alert is the fold of its rows
// (largest count, earliest first attempt, latest last attempt). What directors did about it is
// appended to alert_actions. People appear as pseudonyms only; no host, path or address is stored.

/** an alert lives as long as the events it counts (retention.eventsDays after its window) */
export const ALERTS_TTL = (eventsDays: number) => `toDateTime(period_to) + toIntervalDay(${eventsDays})`;

export function alertsTable(eventsDays: number): TableSpec {
  return {
    name: 'alerts',
    columns: [
      ['alert_id', 'String'],
      /** when this row was written */
      ['raised_at', "DateTime64(3, 'UTC')"],
      ['user_pseudonym', 'String'],
      ['category', 'LowCardinality(String)'],
      /** hour | day */
      ['period_kind', 'LowCardinality(String)'],
      ['period_from', "DateTime64(3, 'UTC')"],
      ['period_to', "DateTime64(3, 'UTC')"],
      /** blocked attempts in the category within the window, as counted when the row was written */
      ['attempts', 'UInt32'],
      ['threshold', 'UInt32'],
      ['first_seen', "DateTime64(3, 'UTC')"],
      ['last_seen', "DateTime64(3, 'UTC')"],
    ],
    engine: 'MergeTree',
    orderBy: '(alert_id, raised_at)',
    ttl: ALERTS_TTL(eventsDays),
    shardBy: 'cityHash64(alert_id)',
  };
}

export const alertActionsTable: TableSpec = {
  name: 'alert_actions',
  columns: [
    ['alert_id', 'String'],
    ['ts', "DateTime64(3, 'UTC')"],
    /** investigation | dismiss */
    ['kind', 'LowCardinality(String)'],
    /** console user_id */
    ['actor', 'String'],
    ['reason', 'String'],
    /** the investigation request it became, when kind = investigation */
    ['request_id', 'String'],
  ],
  engine: 'MergeTree',
  orderBy: '(alert_id, ts)',
  shardBy: 'cityHash64(alert_id)',
};

export const ALERTS_MIGRATION: Migration = {
  version: 61,
  name: 'alerts: pseudonymous alerts on serious categories, and what was done about them',
  statements: (ctx) => [alertsTable(ctx.retention.eventsDays), alertActionsTable].flatMap((s) => createTable(ctx.db, s, ctx.topology)),
};
