import { hash as oneShotHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ProgressSink } from '../../core/progress.ts';
import { WIRE_COLUMNS } from '../../core/events/wire.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { batchEventIds, bodyBytes, IMPORT_INSERT, MAX_REPORTED_BAD, SquidEncoder, withCategories, type BatchJob, type BatchOut, type EncoderDeps } from './squid-encoder.ts';
import { logBatches } from './log-batches.ts';
import { SquidWorkerPool } from './squid-workers.ts';

export { noCategories, type Categoriser } from './squid-encoder.ts';

// `fairwatch import squid-log FILE`: Squid history into fairwatch.events, so an organisation moving
// from Squid keeps it. User names and client addresses become pseudonyms on the way in; categories
// come from the policy engine. Idempotent: lines are imported in fixed batches of BATCH_LINES, each
// recorded in fairwatch.import_ledger under the SHA-256 of its text, and a batch already recorded
// is skipped; a batch not recorded (first import, or the tail of a log that has grown since) keeps
// only lines whose deterministic event id is not yet stored.
//
// This thread reads lines, hashes batches and inserts; the batches are parsed and encoded by
// SquidEncoder, here or in worker threads (`workers`), one insert at a time running on the engine's
// own threads while the next batches are encoded.

export const BATCH_LINES = 50_000;

export interface ImportDeps extends EncoderDeps {
  store: Store;
  /** the clock for the retention cut-off (tests) */
  now?: () => number;
  /** parse and encode in this many worker threads (the embedded engine only); none: in this thread */
  workers?: { count: number; pseudonymKey: Buffer };
}

export interface ImportResult {
  lines: number;
  imported: number;
  alreadyImported: number;
  /** good lines older than retention.eventsDays: not imported (the table's TTL would drop them at once) */
  expired: number;
  bad: number;
  badLines: Array<{ line: number; reason: string }>;
  batches: number;
  skippedBatches: number;
  /** worker threads used */
  workers: number;
}

const chMs = (t: number) => new Date(t).toISOString().slice(0, 23).replace('T', ' ');

interface Batch {
  job: BatchJob;
  hash: string;
  last: number;
}

export class SquidImporter {
  private readonly encoder: SquidEncoder;

  constructor(private readonly d: ImportDeps) {
    this.encoder = new SquidEncoder(d);
  }

  async importFile(path: string, sourceLabel = path, onProgress?: ProgressSink): Promise<ImportResult> {
    const { store } = this.d;
    const done = new Set((await store.rows<{ h: string }>(`SELECT batch_hash AS h FROM ${store.database}.import_ledger`)).map((r) => r.h));
    const count = this.d.workers?.count ?? 0;
    const notBefore = (this.d.now?.() ?? Date.now()) - this.d.config.retention.eventsDays * 86_400_000;
    const result: ImportResult = { lines: 0, imported: 0, alreadyImported: 0, expired: 0, bad: 0, badLines: [], batches: 0, skippedBatches: 0, workers: 0 };
    const form = store.embedded ? 'native' : 'text';
    // workers write Native blocks: against a server the lines are encoded here
    const pool = count > 0 && store.embedded ? await SquidWorkerPool.start(count, {
      config: this.d.config, pseudonymKey: this.d.workers!.pseudonymKey, groups: [...this.d.groups],
    }) : null;
    result.workers = pool ? count : 0;
    // results are stored one at a time, in the order they come back
    let chain: Promise<void> = Promise.resolve();
    let queued = 0;
    const store1 = (b: Batch, out: BatchOut) => {
      queued++;
      chain = chain.then(() => this.store(b, out, result, sourceLabel, done)).finally(() => { queued--; });
    };
    const tasks: Array<Promise<void>> = [];
    try {
      let first = 1;
      const totalBytes = onProgress ? (await stat(path)).size : 0;
      let bytes = 0;
      const step = `importing ${basename(path)}`;
      for await (const { text, lines } of logBatches(path, BATCH_LINES)) {
        result.lines += lines;
        if (onProgress) {
          bytes += Buffer.byteLength(text); // "\r\n" read as "\n": a little under, capped at the total
          onProgress({ step, done: bytes, total: totalBytes, unit: 'bytes', count: { n: result.lines, unit: 'lines' } });
        }
        result.batches++;
        const hash = oneShotHash('sha256', text, 'hex');
        const b: Batch = { job: { text, first, known: done.has(hash), form, notBefore }, hash, last: first + lines - 1 };
        first = b.last + 1;
        if (pool) {
          // bounded: no more results waiting for the engine than there are workers
          if (queued > count) await chain;
          const { result: pending } = await pool.submit(b.job);
          const task = pending.then((out) => store1(b, out));
          task.catch(() => {}); // surfaced by Promise.all below
          tasks.push(task);
        } else {
          const out = this.encoder.encode(b.job);
          await chain; // the previous insert, which ran while this batch was encoded
          store1(b, out);
        }
      }
      // the whole file is read; the running count was a little under with "\r\n" line ends
      onProgress?.({ step, done: totalBytes, total: totalBytes, unit: 'bytes', count: { n: result.lines, unit: 'lines' } });
      await Promise.all(tasks);
      await chain;
    } finally {
      await pool?.close();
    }
    result.badLines.sort((a, b) => a.line - b.line);
    result.badLines.length = Math.min(result.badLines.length, MAX_REPORTED_BAD);
    return result;
  }

  /** Counts one encoded batch and stores its events (with the ledger entry) unless already there. */
  private async store(b: Batch, out: BatchOut, result: ImportResult, sourceLabel: string, done: Set<string>): Promise<void> {
    const { store } = this.d;
    result.bad += out.bad;
    result.badLines.push(...out.badLines);
    result.expired += out.expired;
    if (b.job.known) {
      result.skippedBatches++;
      result.alreadyImported += out.good - out.expired;
      return;
    }
    // the token makes an immediate retry of this exact batch a no-op as well
    const token = `squid-import:${b.hash}`;
    let rows = out.rows;
    if (store.embedded && rows) {
      // a worker's block still lacks its category column (it has no block lists): add it here
      const body = out.categoryKeys !== undefined ? withCategories(out, this.d.categoriser) : bodyBytes(out);
      const skipped = await store.withNativeFile(body, (file) => this.insertNew(out, file, token));
      result.alreadyImported += skipped;
      rows -= skipped;
    } else if (rows) {
      const stored = await this.alreadyStored(b, out);
      if (stored.length) out = this.encoder.encode({ ...b.job, skip: stored }); // rare: a grown file's last batch
      result.alreadyImported += out.skipped;
      rows = out.rows;
      if (rows) await store.insertTranscoded('events', WIRE_COLUMNS, { rows, block: Buffer.alloc(0), text: bodyBytes(out) }, token);
    }
    await store.insert('import_ledger', [{ batch_hash: b.hash, source: sourceLabel, first_line: b.job.first, last_line: b.last, events: rows, imported_at: chMs(Date.now()) }]);
    done.add(b.hash);
    result.imported += rows;
  }

  /**
   * Embedded engine: inserts the rows of a batch's Native block (`file`) whose event ids are not yet
   * stored and returns how many were. Only when imported events already exist in the batch's time
   * range (a grown file's last batch, an interrupted import, a second log of the same days) does the
   * engine compare ids: it derives them from the block itself, so no line is parsed twice.
   */
  private async insertNew(out: BatchOut, file: string, token: string): Promise<number> {
    const { store } = this.d;
    const events = `${store.database}.events`;
    const overlap = await this.overlap(out);
    if (!overlap) {
      await store.insertSelect(events, IMPORT_INSERT.columns, IMPORT_INSERT.select(file), undefined, token);
      return 0;
    }
    const rows = `(${IMPORT_INSERT.select(file)})`;
    const stored = `(SELECT event_id ${overlap.where})`;
    const skipped = Number((await store.one<{ n: number }>(`SELECT count() AS n FROM ${rows} WHERE event_id IN ${stored}`, overlap.range))?.n ?? 0);
    if (skipped < out.rows) await store.insertSelect(events, IMPORT_INSERT.columns, `SELECT * FROM ${rows} WHERE event_id NOT IN ${stored}`, overlap.range, token);
    return skipped;
  }

  /** Against a server: the event ids of an encoded batch that are already stored. */
  private async alreadyStored(b: Batch, out: BatchOut): Promise<string[]> {
    const overlap = await this.overlap(out);
    if (!overlap) return [];
    const existing = await this.d.store.rows<{ id: string }>(`SELECT toString(event_id) AS id ${overlap.where} AND event_id IN {ids:Array(UUID)}`,
      { ...overlap.range, ids: batchEventIds(b.job.text, b.job.first) });
    return existing.map((r) => r.id);
  }

  /** The stored imported events in a batch's time range (its bound `range` and `where`), or null if there are none: the usual first import. */
  private async overlap(out: BatchOut): Promise<{ range: { min: string; max: string }; where: string } | null> {
    const { store } = this.d;
    const range = { min: chMs(out.minTs), max: chMs(out.maxTs) };
    const where = `FROM ${store.database}.events WHERE ts >= {min:DateTime64(3)} AND ts <= {max:DateTime64(3)} AND source = 'import'`;
    const any = await store.one<{ n: number }>(`SELECT count() AS n ${where}`, range);
    return Number(any?.n ?? 0) === 0 ? null : { range, where };
  }
}
