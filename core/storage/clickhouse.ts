import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import type { ChdbExtension } from 'chdb/connection';
import type { Transcoded } from './native-block.ts';

// One way to ClickHouse for every role: @clickhouse/client over HTTP when CLICKHOUSE_URL is set,
// otherwise the same client over the in-process chdb engine.
//
// Quirk, measured on chdb 3.4: settings passed with one call stay set on the embedded session for
// the calls after it (an insert_deduplication_token silently deduplicated the next, unrelated
// insert). Every call therefore goes through `Store`, which passes the same explicit set of
// "sticky" settings on each call, so no call inherits another's.

export interface StoreOptions {
  clickhouseUrl: string | null;
  dataDir: string;
  database?: string;
}

const STICKY_DEFAULTS: ClickHouseSettings = {
  insert_deduplication_token: '',
  deduplicate_blocks_in_dependent_materialized_views: 0,
};

/**
 * An insert's de-duplication settings. With a token, the rollup views' blocks are de-duplicated
 * as well (their tables keep a window, migration 33): otherwise a retried batch dropped by
 * `events` still went through the views and was counted twice in the rollups. Without a token
 * the views are not de-duplicated, so two different batches that roll up alike both count.
 */
const dedupSettings = (token: string): ClickHouseSettings => ({
  insert_deduplication_token: token,
  deduplicate_blocks_in_dependent_materialized_views: token ? 1 : 0,
});

export class Store {
  readonly embedded: boolean;
  readonly database: string;
  private closed = false;

  private spills = 0;

  private constructor(readonly client: ClickHouseClient, embedded: boolean, database: string, private readonly raw: ChdbExtension | null = null,
    /** where Native batches wait for the embedded engine to read them */
    private readonly spillDir = '') {
    this.embedded = embedded;
    this.database = database;
  }

  static async open(opts: StoreOptions): Promise<Store> {
    const database = opts.database ?? 'fairwatch';
    if (opts.clickhouseUrl) {
      const client = createClient({ url: opts.clickhouseUrl, request_timeout: 60_000, clickhouse_settings: { date_time_input_format: 'best_effort' } });
      return new Store(client, false, database);
    }
    const path = join(opts.dataDir, 'clickhouse');
    mkdirSync(path, { recursive: true, mode: 0o700 });
    // Loaded lazily: the 500 MB engine library is only mapped by the process that owns the store.
    const { createChdbConnection } = await import('chdb/connection');
    // Native batches left by a process killed mid-insert: only the owner of the data directory
    // uses the embedded engine, so whatever is here now is stale
    const spill = join(opts.dataDir, 'insert-batches');
    if (existsSync(spill)) for (const f of readdirSync(spill)) if (/^batch-\d+-\d+\.native$/.test(f)) rmSync(join(spill, f), { force: true });
    const connection = createChdbConnection({ path });
    const client = createClient({ connection: connection as never });
    return new Store(client, true, database, connection.chdb, spill);
  }

  /** `table` in this store's database unless it names its own */
  private qualified(table: string): string {
    return table.includes('.') ? table : `${this.database}.${table}`;
  }

  private settings(extra?: ClickHouseSettings): ClickHouseSettings {
    return { ...STICKY_DEFAULTS, ...extra };
  }

  /** Runs a statement that returns no rows (DDL, ALTER, INSERT … SELECT). */
  async command(query: string, params?: Record<string, unknown>, settings?: ClickHouseSettings): Promise<void> {
    await this.client.command({ query, query_params: params, clickhouse_settings: this.settings(settings) });
  }

  /** Runs a SELECT and returns its rows as objects. Values are bound server-side, never spliced. */
  async rows<T = Record<string, unknown>>(query: string, params?: Record<string, unknown>, settings?: ClickHouseSettings): Promise<T[]> {
    const rs = await this.client.query({
      query,
      query_params: params,
      format: 'JSONEachRow',
      clickhouse_settings: this.settings({ output_format_json_quote_64bit_integers: 0, ...settings }),
    });
    return rs.json<T>();
  }

  async one<T = Record<string, unknown>>(query: string, params?: Record<string, unknown>): Promise<T | undefined> {
    return (await this.rows<T>(query, params))[0];
  }

  /**
   * Inserts rows. `dedupToken` makes a retried insert of the same batch a no-op (the tables that
   * need it carry non_replicated_deduplication_window); without it a fresh empty token is sent so
   * an earlier call's token cannot leak into this one.
   */
  async insert(table: string, values: readonly object[], dedupToken = ''): Promise<void> {
    if (values.length === 0) return;
    await this.client.insert({
      table: this.qualified(table),
      values: values as object[],
      format: 'JSONEachRow',
      clickhouse_settings: this.settings({ ...dedupSettings(dedupToken), date_time_input_format: 'best_effort' }),
    });
  }

  /**
   * Bulk insert of rows already checked and encoded by `transcodeTsv`: on the embedded engine its
   * Native block, read from a file in the data directory (nothing left to parse: the fastest way in
   * by far); against a server its accepted lines as TabSeparated (parsed there, in parallel, so ask
   * for `keepText` when `embedded` is false). Same de-duplication token rule as `insert`.
   */
  async insertTranscoded(table: string, columns: readonly string[], t: Pick<Transcoded, 'block' | 'text' | 'rows'>, dedupToken = ''): Promise<void> {
    if (t.rows === 0) return;
    const name = this.qualified(table);
    if (!this.embedded) {
      if (!t.text) throw new Error('insertTranscoded: a server needs the text form (transcode with keepText)');
      return this.insertTsvBody(name, columns, t.text, dedupToken);
    }
    await this.withNativeFile(t.block, (file) => this.insertSelect(name, columns, `SELECT * FROM ${file}`, undefined, dedupToken));
  }

  /**
   * Embedded engine only: writes a Native block to a file in the data directory and runs `use` with
   * the table function that reads it (`file('…', 'Native')`), so several statements can read one
   * block; the file is removed afterwards, whatever happens.
   */
  async withNativeFile<T>(block: Uint8Array, use: (file: string) => Promise<T>): Promise<T> {
    if (!this.embedded) throw new Error('withNativeFile: only the embedded engine reads files from the data directory');
    mkdirSync(this.spillDir, { recursive: true, mode: 0o700 });
    const file = join(this.spillDir, `batch-${process.pid}-${++this.spills}.native`);
    await writeFile(file, block, { mode: 0o600 });
    try {
      return await use(`file('${file.replace(/[\\']/g, (c) => `\\${c}`)}', 'Native')`);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** `INSERT INTO table (columns) SELECT …`, with bound parameters and the same de-duplication token rule as `insert`. */
  async insertSelect(table: string, columns: readonly string[], select: string, params?: Record<string, unknown>, dedupToken = ''): Promise<void> {
    await this.command(`INSERT INTO ${this.qualified(table)} (${columns.join(', ')}) ${select}`, params, dedupSettings(dedupToken));
  }

  /**
   * Inserts an already-encoded TabSeparated body (rows in `columns` order, each ending in a newline).
   * On the embedded engine the bytes go to chdb's raw insert: handed over without copying and parsed
   * by the engine's own parser, which is what lets the ingester approach the engine's ceiling
   * (bench/ingest.ts). The settings ride on the statement's SETTINGS clause, so none stays set on the
   * session. Against a server the same bytes are the body of an ordinary insert.
   */
  async insertTsvBody(table: string, columns: readonly string[], body: Buffer, dedupToken = ''): Promise<void> {
    if (body.length === 0) return;
    const name = this.qualified(table);
    const settings: ClickHouseSettings = { ...dedupSettings(dedupToken), date_time_input_format: 'best_effort' };
    if (this.raw) {
      await this.raw.rawInsert({ table: name, columns, values: body, format: 'TabSeparated', settings: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)])) });
      return;
    }
    await this.client.insert({ table: name, columns: columns as [string, ...string[]], values: Readable.from([body], { objectMode: false }), format: 'TabSeparated', clickhouse_settings: this.settings(settings) });
  }

  async version(): Promise<string> {
    const row = await this.one<{ v: string }>('SELECT version() AS v');
    return row?.v ?? 'unknown';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}
