import { createHash } from 'node:crypto';
import type { Store } from './clickhouse.ts';
import { createDatabase, createTable, storageTable, type TableSpec, type Topology } from './ddl.ts';
import {
  DB, EVENTS_TTL, REPORTS_TTL, aupAcceptancesTable, auditLogTable, authorisationsTable, eventsTable,
  importLedgerTable, migrationsTable, reportRunsTable, reportsTable, rollupDomainsTable, rollupOrgTable, rollupPersonTable,
  ROLLUP_TTL, usersTable,
} from './tables.ts';
import { minuteMaskStatements, ROLLUP_TABLES, rollupDedupStatements, rollupViews } from './rollup-views.ts';
import { PRIVACY_MIGRATION } from '../privacy/tables.ts';
import { EXTERNAL_ACCOUNTS_MIGRATION } from '../identity/external-accounts.ts';
import { ALERTS_MIGRATION, ALERTS_TTL } from '../alerts/tables.ts';

// Versioned, idempotent migrations. Each is a list of statements; the runner records the versions it
// applied in fairwatch.schema_migrations and skips them next time. Every statement is itself
// idempotent (IF NOT EXISTS), so a run interrupted half-way is simply run again.

export interface RetentionDays {
  eventsDays: number;
  reportsDays: number;
  rollupsDays: number;
}

export interface MigrationContext {
  db: string;
  topology: Topology;
  retention: RetentionDays;
}

export interface Migration {
  version: number;
  name: string;
  statements(ctx: MigrationContext): string[];
}

const tables = (ctx: MigrationContext, ...specs: TableSpec[]) => specs.flatMap((s) => createTable(ctx.db, s, ctx.topology));

/** Append new migrations at the end; never edit one that has shipped. */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'base tables: events, reports, audit_log, authorisations, aup_acceptances, users',
    statements: (ctx) => tables(ctx,
      eventsTable(ctx.retention.eventsDays),
      reportsTable(ctx.retention.reportsDays),
      auditLogTable,
      authorisationsTable,
      aupAcceptancesTable,
      usersTable,
    ),
  },
  {
    version: 30,
    name: 'analyser rollups: hourly per pseudonym, organisation-wide and per domain, with materialized views',
    statements: (ctx) => [
      ...tables(ctx, rollupPersonTable(ctx.retention.rollupsDays), rollupOrgTable(ctx.retention.rollupsDays), rollupDomainsTable(ctx.retention.rollupsDays)),
      ...rollupViews(ctx.db, ctx.topology),
    ],
  },
  {
    version: 31,
    name: 'analyser report runs and squid import ledger',
    statements: (ctx) => tables(ctx, reportRunsTable, importLedgerTable),
  },
  {
    version: 32,
    name: 'person rollup: minutes of the hour as a bit mask (minute_mask), the view swapped in place',
    statements: (ctx) => minuteMaskStatements(ctx.db, ctx.topology),
  },
  {
    version: 33,
    name: 'rollups: a deduplication window, so a retried batch is not counted twice through the views',
    statements: (ctx) => rollupDedupStatements(ctx.db, ctx.topology),
  },
  PRIVACY_MIGRATION,
  EXTERNAL_ACCOUNTS_MIGRATION,
  ALERTS_MIGRATION,
];

export function allMigrations(): Migration[] {
  const all = [...MIGRATIONS].sort((a, b) => a.version - b.version);
  for (let i = 1; i < all.length; i++) {
    if (all[i]!.version === all[i - 1]!.version) throw new Error(`two migrations share version ${all[i]!.version}`);
  }
  return all;
}

function checksum(m: Migration): string {
  // Rendered with fixed retention so a retention change is not mistaken for an edited migration.
  const ctx: MigrationContext = { db: DB, topology: { kind: 'single' }, retention: { eventsDays: 1, reportsDays: 1, rollupsDays: 1 } };
  return createHash('sha256').update(m.statements(ctx).join(';\n')).digest('hex').slice(0, 16);
}

export interface MigrateResult {
  applied: number[];
  skipped: number[];
  ttlChanged: string[];
}

export async function migrate(store: Store, retention: RetentionDays, topology: Topology = { kind: 'single' }): Promise<MigrateResult> {
  const ctx: MigrationContext = { db: store.database, topology, retention };
  await store.command(createDatabase(ctx.db, topology));
  for (const sql of createTable(ctx.db, migrationsTable, topology)) await store.command(sql);
  const done = new Set(
    (await store.rows<{ version: number }>(`SELECT DISTINCT version FROM ${ctx.db}.schema_migrations`)).map((r) => Number(r.version)),
  );
  const result: MigrateResult = { applied: [], skipped: [], ttlChanged: [] };
  for (const m of allMigrations()) {
    if (done.has(m.version)) {
      result.skipped.push(m.version);
      continue;
    }
    for (const sql of m.statements(ctx)) await store.command(sql);
    await store.insert(`${ctx.db}.schema_migrations`, [{ version: m.version, name: m.name, checksum: checksum(m), applied_at: new Date().toISOString() }]);
    result.applied.push(m.version);
  }
  result.ttlChanged = await applyRetention(store, retention, topology);
  return result;
}

/** Brings table TTLs in line with the configured retention; only touches tables whose TTL differs. */
export async function applyRetention(store: Store, retention: RetentionDays, topology: Topology = { kind: 'single' }): Promise<string[]> {
  const wanted: Array<[string, string]> = [
    [storageTable('events', topology), EVENTS_TTL(retention.eventsDays)],
    [storageTable('alerts', topology), ALERTS_TTL(retention.eventsDays)],
    [storageTable('reports', topology), REPORTS_TTL(retention.reportsDays)],
    ...ROLLUP_TABLES.map((t): [string, string] => [storageTable(t, topology), ROLLUP_TTL(retention.rollupsDays)]),
  ];
  const changed: string[] = [];
  for (const [table, ttl] of wanted) {
    const current = await tableTtl(store, table);
    if (current === null || normaliseTtl(current) === normaliseTtl(ttl)) continue;
    const onCluster = topology.kind === 'cluster' ? ` ON CLUSTER '${topology.cluster}'` : '';
    // Old parts are re-checked lazily at merges rather than rewritten now: a retention change must
    // not stall a large table.
    await store.command(`ALTER TABLE ${store.database}.${table}${onCluster} MODIFY TTL ${ttl}`, undefined, { materialize_ttl_after_modify: 0 });
    changed.push(table);
  }
  return changed;
}

export async function tableTtl(store: Store, table: string): Promise<string | null> {
  const row = await store.one<{ engine_full: string }>(
    'SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}', { db: store.database, t: table });
  if (!row) return null;
  const m = /\bTTL (.*?)(?: SETTINGS |$)/s.exec(row.engine_full);
  return m ? m[1]!.trim() : '';
}

function normaliseTtl(ttl: string): string {
  return ttl.replace(/\s+/g, '').replace(/toIntervalDay\((\d+)\)/g, 'INTERVAL$1DAY').replace(/INTERVAL(\d+)DAY/gi, 'D$1').toLowerCase();
}
