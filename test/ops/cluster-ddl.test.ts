import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { createDatabase, createTable, shardKey, type Topology } from '../../core/storage/ddl.ts';
import { allMigrations, MIGRATIONS, type MigrationContext } from '../../core/storage/migrations.ts';
import { migrationsTable } from '../../core/storage/tables.ts';

// The cluster variant of the schema (storage.cluster set): no ClickHouse cluster runs here, so the
// SQL it would send is pinned instead: the base tables as a file snapshot, and for every migration
// (whoever adds it) the rules a cluster needs.

const cluster: Topology = { kind: 'cluster', cluster: 'fairwatch' };
const ctx = (topology: Topology): MigrationContext => ({ db: 'fairwatch', topology, retention: { eventsDays: 90, reportsDays: 730, rollupsDays: 396 } });

describe('cluster schema variant', () => {
  it('base tables: the exact SQL per table (snapshot)', async () => {
    const base = MIGRATIONS.find((m) => m.version === 1)!;
    const sql = [createDatabase('fairwatch', cluster), ...createTable('fairwatch', migrationsTable, cluster), ...base.statements(ctx(cluster))].join(';\n\n') + ';\n';
    await expect(sql).toMatchFileSnapshot('./fixtures/cluster-ddl-base.sql');
  });

  it('every migration: Replicated local tables + Distributed tables, ON CLUSTER everywhere, views on local tables', () => {
    for (const m of allMigrations()) {
      const single = m.statements(ctx({ kind: 'single' }));
      const stmts = m.statements(ctx(cluster));
      for (const s of stmts) {
        const where = `migration ${m.version}: ${s.split('\n')[0]}`;
        expect(s, where).toMatch(/ ON CLUSTER 'fairwatch'/);
        const table = /^CREATE TABLE IF NOT EXISTS fairwatch\.(\w+) /.exec(s)?.[1];
        if (table?.endsWith('_local')) {
          expect(s, where).toMatch(new RegExp(`ENGINE = Replicated\\w*MergeTree\\('/clickhouse/tables/\\{shard\\}/\\{database\\}/${table}', '\\{replica\\}'`));
          expect(stmts.some((d) => d.includes(`ENGINE = Distributed('fairwatch', fairwatch, ${table},`)), `${where}: no Distributed table`).toBe(true);
        } else if (table) {
          expect(s, where).toMatch(/ENGINE = Distributed\('fairwatch', fairwatch, \w+_local, .+\)$/);
        }
        const mv = /^CREATE MATERIALIZED VIEW IF NOT EXISTS fairwatch\.\w+ ON CLUSTER 'fairwatch' TO fairwatch\.(\w+) AS/.exec(s);
        if (/MATERIALIZED VIEW/.test(s)) {
          expect(mv?.[1], `${where}: a view writes its shard's local table`).toMatch(/_local$/);
          expect(s, `${where}: a view reads its shard's local table`).not.toMatch(/FROM fairwatch\.(?!\w+_local\b)\w+/);
        }
      }
      // one server: the same tables under their plain names, no cluster clauses
      for (const s of single) expect(s).not.toMatch(/ON CLUSTER|Replicated|Distributed|_local/);
    }
  });

  it('tables that fold rows by key are sharded by that key', () => {
    expect(shardKey({ name: 'u', columns: [], engine: 'ReplacingMergeTree(updated_at)', orderBy: 'username' })).toBe('cityHash64(username)');
    expect(shardKey({ name: 'e', columns: [], engine: 'MergeTree', orderBy: 'ts' })).toBe('rand()');
    expect(shardKey({ name: 'e', columns: [], engine: 'MergeTree', orderBy: 'ts', shardBy: 'cityHash64(x)' })).toBe('cityHash64(x)');
    const users = createTable('fairwatch', { name: 'users', columns: [['username', 'String']], engine: 'ReplacingMergeTree', orderBy: 'username' }, cluster);
    expect(users[1]).toMatch(/Distributed\('fairwatch', fairwatch, users_local, cityHash64\(username\)\)$/);
  });

  it('storage.cluster in config chooses the variant; a bad name is named', () => {
    expect(parseConfig('storage:\n  cluster: fairwatch\n').storage.cluster).toBe('fairwatch');
    expect(parseConfig('').storage.cluster).toBeUndefined();
    expect(() => parseConfig('storage:\n  cluster: "two words"\n', 'f.yaml')).toThrow(/f\.yaml:2: storage\.cluster: expected a cluster name/);
  });
});
