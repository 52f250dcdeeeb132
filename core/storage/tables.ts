import type { TableSpec } from './ddl.ts';

// The tables of database `fairwatch` (docs/architecture/contract.md, "ClickHouse tables"). No column of any table except
// `users` holds a raw user name or client IP: people appear as pseudonyms (events, acceptances) or
// as the opaque user_id of a console account (audit, authorisations).

export const DB = 'fairwatch';

/** Retention placeholders are filled in by the migration runner from config. */
export const EVENTS_TTL = (days: number) => `toDateTime(ts) + toIntervalDay(${days})`;
export const REPORTS_TTL = (days: number) => `toDateTime(created_at) + toIntervalDay(${days})`;

export function eventsTable(eventsDays: number): TableSpec {
  return {
    name: 'events',
    columns: [
      ['ts', "DateTime64(3, 'UTC')"],
      ['event_id', 'UUID'],
      ['user_pseudonym', 'String'],
      ['user_group', 'LowCardinality(String)'],
      ['client_pseudonym', 'String'],
      ['method', 'LowCardinality(String)'],
      ['scheme', 'LowCardinality(String)'],
      ['host', 'String'],
      ['port', 'UInt16'],
      ['path', 'String'],
      /** only filled when retention.storeQueryStrings is on */
      ['query', "String DEFAULT ''"],
      ['status', 'UInt16'],
      ['bytes_up', 'UInt64'],
      ['bytes_down', 'UInt64'],
      ['duration_ms', 'UInt32'],
      ['content_type', 'LowCardinality(String)'],
      ['filename', 'String'],
      ['category', 'LowCardinality(String)'],
      ['action', 'LowCardinality(String)'],
      ['rule', 'LowCardinality(String)'],
      /** e.g. executable, large-upload, malformed, ssrf */
      ['flags', 'Array(LowCardinality(String))'],
      /** proxy | import */
      ['source', "LowCardinality(String) DEFAULT 'proxy'"],
    ],
    engine: 'MergeTree',
    partitionBy: 'toYYYYMM(ts)',
    orderBy: '(toDate(ts), user_pseudonym, ts)',
    ttl: EVENTS_TTL(eventsDays),
    // A retried batch carries the same insert_deduplication_token and is dropped by the engine.
    settings: { non_replicated_deduplication_window: 10000 },
    shardBy: 'cityHash64(user_pseudonym)',
  };
}

export function reportsTable(reportsDays: number): TableSpec {
  return {
    name: 'reports',
    columns: [
      ['report_id', 'UUID'],
      ['kind', 'LowCardinality(String)'],
      ['period_from', "DateTime64(3, 'UTC')"],
      ['period_to', "DateTime64(3, 'UTC')"],
      ['created_at', "DateTime64(3, 'UTC')"],
      /** row counts per section: metadata only, no names */
      ['row_counts', 'Map(String, UInt64)'],
      /** per-report data key wrapped by the report master key (AES-256-GCM) */
      ['key_id', 'String'],
      ['wrapped_key', 'String'],
      ['iv', 'String'],
      ['tag', 'String'],
      ['ciphertext', 'String'],
    ],
    engine: 'MergeTree',
    orderBy: '(created_at, report_id)',
    ttl: REPORTS_TTL(reportsDays),
  };
}

export const auditLogTable: TableSpec = {
  name: 'audit_log',
  columns: [
    ['seq', 'UInt64'],
    ['ts', "DateTime64(3, 'UTC')"],
    /** user_id of the console account, or 'system' / 'anonymous' */
    ['actor', 'String'],
    ['actor_role', 'LowCardinality(String)'],
    ['action', 'LowCardinality(String)'],
    ['target', 'String'],
    ['reason', 'String'],
    ['outcome', 'LowCardinality(String)'],
    ['prev_hash', 'String'],
    ['hash', 'String'],
  ],
  // Never given a TTL: retention must not delete the audit log.
  engine: 'MergeTree',
  orderBy: 'seq',
};

export const authorisationsTable: TableSpec = {
  name: 'authorisations',
  columns: [
    /** the request every later row (approve, refuse, revoke) refers to */
    ['request_id', 'UUID'],
    ['row_id', 'UUID'],
    ['ts', "DateTime64(3, 'UTC')"],
    /** request | approve | refuse | revoke */
    ['kind', 'LowCardinality(String)'],
    /** report-access | investigation | investigation-approval | work-exception | self-report */
    ['subject', 'LowCardinality(String)'],
    /** report id, investigation id, category or host the request is about */
    ['target', 'String'],
    /** console user_id, or the pseudonym of a staff member asking from a block page */
    ['actor', 'String'],
    ['reason', 'String'],
    ['expires_at', "Nullable(DateTime64(3, 'UTC'))"],
    /** JSON with the subject-specific fields (scope, window, kinds of record …) */
    ['details', 'String'],
  ],
  engine: 'MergeTree',
  orderBy: '(request_id, ts, row_id)',
};

export const aupAcceptancesTable: TableSpec = {
  name: 'aup_acceptances',
  columns: [
    ['ts', "DateTime64(3, 'UTC')"],
    ['user_pseudonym', 'String'],
    ['version', 'String'],
    ['client_pseudonym', 'String'],
  ],
  engine: 'MergeTree',
  orderBy: '(user_pseudonym, ts)',
};

/** The user directory: the one table that holds names. Latest row per user name wins. */
export const usersTable: TableSpec = {
  name: 'users',
  columns: [
    ['username', 'String'],
    ['user_id', 'UUID'],
    ['role', 'LowCardinality(String)'],
    ['group', 'LowCardinality(String)'],
    ['password_hash', 'String'],
    ['totp_secret', 'String'],
    ['disabled', 'UInt8'],
    ['created_at', "DateTime64(3, 'UTC')"],
    ['updated_at', "DateTime64(3, 'UTC')"],
  ],
  engine: 'ReplacingMergeTree(updated_at)',
  orderBy: 'username',
};

export const migrationsTable: TableSpec = {
  name: 'schema_migrations',
  columns: [
    ['version', 'UInt32'],
    ['name', 'String'],
    ['checksum', 'String'],
    ['applied_at', "DateTime64(3, 'UTC')"],
  ],
  engine: 'MergeTree',
  orderBy: 'version',
};

// ---- analyser (migrations 30–39): rollups, report runs, import ledger ----

export const ROLLUP_TTL = (days: number) => `toDate(hour) + toIntervalDay(${days})`;

/**
 * Per pseudonym × group × category × action and hour. Hourly rather than daily so report periods
 * can follow local midnight in any whole-hour time zone (a UTC day would cut a London summer day at
 * 01:00). `minutes` holds the minutes of the hour that saw a request, so time online is estimated
 * from the rollup (sessions at minute resolution) without scanning raw events.
 */
export function rollupPersonTable(rollupsDays: number): TableSpec {
  return {
    name: 'rollup_person_hourly',
    columns: [
      ['hour', "DateTime('UTC')"],
      ['user_pseudonym', 'String'],
      ['user_group', 'LowCardinality(String)'],
      ['category', 'LowCardinality(String)'],
      ['action', 'LowCardinality(String)'],
      ['requests', 'SimpleAggregateFunction(sum, UInt64)'],
      ['bytes_up', 'SimpleAggregateFunction(sum, UInt64)'],
      ['bytes_down', 'SimpleAggregateFunction(sum, UInt64)'],
      ['executables', 'SimpleAggregateFunction(sum, UInt64)'],
      ['large_uploads', 'SimpleAggregateFunction(sum, UInt64)'],
      ['large_upload_bytes', 'SimpleAggregateFunction(sum, UInt64)'],
      ['exceptions_used', 'SimpleAggregateFunction(sum, UInt64)'],
      /** minutes of the hour that saw a request, for rows written before migration 32 (minute_mask since) */
      ['minutes', 'AggregateFunction(groupUniqArray, UInt8)'],
    ],
    engine: 'AggregatingMergeTree',
    partitionBy: 'toYYYYMM(hour)',
    orderBy: '(hour, user_pseudonym, user_group, category, action)',
    ttl: ROLLUP_TTL(rollupsDays),
    shardBy: 'cityHash64(user_pseudonym)',
  };
}

/** Hourly, organisation-wide (no pseudonyms): group × category × action. */
export function rollupOrgTable(rollupsDays: number): TableSpec {
  return {
    name: 'rollup_org_hourly',
    columns: [
      ['hour', "DateTime('UTC')"],
      ['user_group', 'LowCardinality(String)'],
      ['category', 'LowCardinality(String)'],
      ['action', 'LowCardinality(String)'],
      ['requests', 'SimpleAggregateFunction(sum, UInt64)'],
      ['bytes_up', 'SimpleAggregateFunction(sum, UInt64)'],
      ['bytes_down', 'SimpleAggregateFunction(sum, UInt64)'],
      ['people', 'AggregateFunction(uniq, String)'],
    ],
    engine: 'AggregatingMergeTree',
    partitionBy: 'toYYYYMM(hour)',
    orderBy: '(hour, user_group, category, action)',
    ttl: ROLLUP_TTL(rollupsDays),
  };
}

/** Hourly per category × host × action (no pseudonyms): top domains per category. */
export function rollupDomainsTable(rollupsDays: number): TableSpec {
  return {
    name: 'rollup_domains_hourly',
    columns: [
      ['hour', "DateTime('UTC')"],
      ['category', 'LowCardinality(String)'],
      ['host', 'String'],
      ['action', 'LowCardinality(String)'],
      ['requests', 'SimpleAggregateFunction(sum, UInt64)'],
      ['bytes_down', 'SimpleAggregateFunction(sum, UInt64)'],
      ['executables', 'SimpleAggregateFunction(sum, UInt64)'],
    ],
    engine: 'AggregatingMergeTree',
    partitionBy: 'toYYYYMM(hour)',
    orderBy: '(hour, category, host, action)',
    ttl: ROLLUP_TTL(rollupsDays),
  };
}

/** One row per scheduled or on-demand report run (a later row for the same run_id wins). */
export const reportRunsTable: TableSpec = {
  name: 'report_runs',
  columns: [
    ['run_id', 'UUID'],
    /** nightly-audit | weekly-audit | monthly-audit | spot-check | on-demand-… */
    ['job', 'LowCardinality(String)'],
    ['period_from', "DateTime64(3, 'UTC')"],
    ['period_to', "DateTime64(3, 'UTC')"],
    /** scheduled | catch-up | on-demand | baseline */
    ['trigger', 'LowCardinality(String)'],
    /** running | ok | failed | skipped */
    ['status', 'LowCardinality(String)'],
    ['report_id', 'String'],
    ['runner', 'String'],
    ['error', 'String'],
    ['started_at', "DateTime64(3, 'UTC')"],
    ['updated_at', "DateTime64(3, 'UTC')"],
  ],
  engine: 'ReplacingMergeTree(updated_at)',
  orderBy: '(job, period_from, run_id)',
};

/** Squid log import ledger: one row per imported batch, keyed by the hash of its lines. */
export const importLedgerTable: TableSpec = {
  name: 'import_ledger',
  columns: [
    ['batch_hash', 'String'],
    ['source', 'String'],
    ['first_line', 'UInt64'],
    ['last_line', 'UInt64'],
    ['events', 'UInt64'],
    ['imported_at', "DateTime64(3, 'UTC')"],
  ],
  engine: 'ReplacingMergeTree(imported_at)',
  orderBy: 'batch_hash',
};

/** Every column of `events`, in table order: for bulk inserts that name their columns. */
export const EVENT_COLUMNS: readonly string[] = eventsTable(1).columns.map(([name]) => name);
