// Table definitions rendered for one server (or the embedded engine) or for a cluster, so the same
// migrations run on both. Pure: spec in, SQL out.

export type Topology =
  | { kind: 'single' }
  /** Replicated* local tables on every node plus a Distributed table under the plain name */
  | { kind: 'cluster'; cluster: string };

export interface TableSpec {
  name: string;
  columns: ReadonlyArray<readonly [name: string, type: string]>;
  /** MergeTree family engine name without the Replicated prefix, with its arguments */
  engine: string;
  orderBy: string;
  partitionBy?: string;
  ttl?: string;
  settings?: Record<string, string | number>;
  /** sharding key for the Distributed table in cluster mode */
  shardBy?: string;
}

function body(spec: TableSpec, engine: string): string {
  const cols = spec.columns.map(([n, t]) => `  ${n} ${t}`).join(',\n');
  const parts = [`(\n${cols}\n)`, `ENGINE = ${engine}`];
  if (spec.partitionBy) parts.push(`PARTITION BY ${spec.partitionBy}`);
  parts.push(`ORDER BY ${spec.orderBy}`);
  if (spec.ttl) parts.push(`TTL ${spec.ttl}`);
  const settings = Object.entries(spec.settings ?? {});
  if (settings.length) parts.push(`SETTINGS ${settings.map(([k, v]) => `${k} = ${v}`).join(', ')}`);
  return parts.join('\n');
}

function replicated(engine: string, table: string): string {
  const m = /^(\w*MergeTree)(?:\((.*)\))?$/s.exec(engine);
  if (!m) throw new Error(`not a MergeTree engine: ${engine}`);
  const args = [`'/clickhouse/tables/{shard}/{database}/${table}'`, `'{replica}'`];
  if (m[2]) args.push(m[2]);
  return `Replicated${m[1]}(${args.join(', ')})`;
}

/**
 * Rows of a Replacing/Aggregating/Collapsing table are folded only within one shard, so every
 * version of a key must land on the same shard: without an explicit key, hash the sorting key.
 * Plain MergeTree tables spread at random.
 */
export function shardKey(spec: TableSpec): string {
  if (spec.shardBy) return spec.shardBy;
  return spec.engine === 'MergeTree' ? 'rand()' : `cityHash64(${spec.orderBy})`;
}

/** The statements that create `spec` in `database` for the topology. */
export function createTable(database: string, spec: TableSpec, topology: Topology): string[] {
  if (topology.kind === 'single') {
    return [`CREATE TABLE IF NOT EXISTS ${database}.${spec.name} ${body(spec, spec.engine)}`];
  }
  const onCluster = `ON CLUSTER '${topology.cluster}'`;
  const local = `${spec.name}_local`;
  return [
    `CREATE TABLE IF NOT EXISTS ${database}.${local} ${onCluster} ${body({ ...spec, name: local }, replicated(spec.engine, local))}`,
    `CREATE TABLE IF NOT EXISTS ${database}.${spec.name} ${onCluster} AS ${database}.${local} ENGINE = Distributed('${topology.cluster}', ${database}, ${local}, ${shardKey(spec)})`,
  ];
}

export function createDatabase(database: string, topology: Topology): string {
  return topology.kind === 'single'
    ? `CREATE DATABASE IF NOT EXISTS ${database}`
    : `CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER '${topology.cluster}'`;
}

/** The table that holds the rows: the local one in a cluster (ALTER … TTL goes there). */
export function storageTable(name: string, topology: Topology): string {
  return topology.kind === 'single' ? name : `${name}_local`;
}
