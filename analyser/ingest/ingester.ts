import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { PipelineConfig } from '../../core/events/stream-sink.ts';
import { pipelineMetrics as m } from '../../core/events/metrics.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { EVENTS_PER_ENTRY, WIRE_COLUMNS } from '../../core/events/wire.ts';
import { EventBatch, type Rejected } from './event-batch.ts';
import { batchToken, safeTrimId, type GroupState } from './stream-ids.ts';
import { logRedisErrors } from '../../core/storage/redis-errors.ts';

// The ingester: Redis stream → ClickHouse `events`, exactly once.
//
// - Reads as a consumer of a group, so several ingesters can share one stream.
// - A batch closes at pipeline.batchRows events or pipeline.batchMs after its first entry. Entries
//   carry up to EVENTS_PER_ENTRY events each (core/events/wire.ts).
// - Each batch is checked and encoded in one pass (event-batch.ts) and inserted as one Native block;
//   while it is being inserted, the next batch is read and encoded (the engine works on its own
//   threads), so at most two batches are in hand.
// - The insert carries a de-duplication token derived from the batch's stream ids: a retried insert
//   of the same entries is dropped by ClickHouse instead of doubling them.
// - XACK only after the insert succeeded. While ClickHouse fails, the same batch is retried with
//   backoff (up to pipeline.retryMaxSeconds apart); nothing further is read, so the stream grows
//   and nothing is dropped.
// - Entries a dead ingester left pending longer than pipeline.claimIdleSeconds are claimed
//   (XAUTOCLAIM). The dead one may have inserted them without acknowledging, and the claimed set
//   need not match its batch, so for claimed entries the event ids already stored are skipped.
// - The stream is trimmed only below the smallest id some group still needs.
// - After each stored batch, before its XACK, the blocked attempts in alerted categories go to the
//   alert detector (core/alerts/detector.ts): every event passes here once, whichever proxy sent it.

export interface IngesterOptions {
  store: Store;
  /** any client; the ingester makes its own connection (a blocking read holds one) */
  redis: Redis;
  pipeline: PipelineConfig;
  group?: string;
  consumer?: string;
  log?: Logger;
  /** fault injection for tests: runs after an insert succeeded, before its XACK */
  afterInsert?: (ids: readonly string[]) => void | Promise<void>;
  /**
   * Runs after a batch is stored and before it is acknowledged (alerts): a crash in between leaves
   * the batch pending, so it is stored (de-duplicated) and seen here again. Its errors are logged,
   * never stop ingestion.
   */
  afterStored?: (batch: EventBatch) => Promise<void>;
  /** how often the stream is trimmed below what every group acknowledged */
  trimEveryMs?: number;
}

type Entry = [id: string, fields: string[]];

export const DEFAULT_GROUP = 'ingest';
const TRIM_EVERY_MS = 5000;
const UUIDS_PER_QUERY = 2000;
const STOP_WAIT_MS = 3000;

/** ClickHouse's ways of saying the disk is full (errno text, NOT_ENOUGH_SPACE, a reservation refused). */
export function isDiskFull(e: Error): boolean {
  return /No space left on device|ENOSPC|NOT_ENOUGH_SPACE|Cannot reserve .* not enough space|Not enough space/i.test(String(e?.message ?? e));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Ingester {
  readonly group: string;
  readonly consumer: string;
  readonly stream: string;
  private readonly conn: Redis;
  private readonly log: Logger;
  private stopping = false;
  /** stopping once the stream is empty */
  private draining = false;
  private loop: Promise<void> | null = null;
  private lastTrim = 0;
  private nextClaim = 0;
  /** the batch being inserted while the next one is read */
  private inflight: Promise<void> | null = null;
  /** observed events per entry, to size reads in events rather than entries */
  private perEntry = EVENTS_PER_ENTRY;
  /** when the batch in hand first failed to insert (0 while inserts succeed) */
  private failingSince = 0;
  /** for stats and tests */
  stored = 0;
  batches = 0;
  failures = 0;

  constructor(private readonly opts: IngesterOptions) {
    this.stream = opts.pipeline.stream;
    this.group = opts.group ?? DEFAULT_GROUP;
    this.consumer = opts.consumer ?? `${hostname()}-${process.pid}-${Date.now().toString(36)}`;
    this.log = opts.log ?? createLogger('ingest');
    this.conn = opts.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
    logRedisErrors(this.conn, this.log, 'ingester');
  }

  /** Creates the consumer group (reading from the start of the stream) and starts the loop. */
  async start(): Promise<void> {
    await this.ensureGroup();
    this.loop = this.run().catch((e) => {
      this.log.error({ err: (e as Error).message }, 'ingester stopped on an unexpected error');
    });
  }

  /**
   * Finishes the batch in hand (unless ClickHouse is failing: then it stays pending) and stops.
   * With `drainMs`, it first stores what is already in the stream (at shutdown the proxy has just
   * flushed into it), for at most that long. Bounded: a loop held by a Redis that does not answer
   * is cut by closing the connection; what it had read stays pending and is claimed next time.
   */
  async stop(drainMs = 0): Promise<void> {
    if (drainMs > 0 && !this.stopping) {
      this.draining = true;
      const cut = setTimeout(() => { this.stopping = true; }, drainMs);
      await Promise.race([this.loop, new Promise((r) => setTimeout(r, drainMs + 100))]);
      clearTimeout(cut);
    }
    this.stopping = true;
    const done = await Promise.race([this.loop?.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), STOP_WAIT_MS))]);
    this.conn.disconnect();
    if (!done) await Promise.race([this.loop, new Promise((r) => setTimeout(r, 500))]);
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.conn.xgroup('CREATE', this.stream, this.group, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
  }

  private async run(): Promise<void> {
    const { batchRows, batchMs } = this.opts.pipeline;
    while (!this.stopping) {
      try {
        const claimed = await this.claim();
        if (claimed.length) {
          await this.settle();
          const batch = new EventBatch();
          for (const [id, fields] of claimed) batch.addEntry(id, fields);
          await this.persist(batch, true);
          continue;
        }
        const batch = new EventBatch();
        let opened = 0;
        while (!this.stopping && batch.events < batchRows) {
          const wait = opened ? opened + batchMs - Date.now() : batchMs;
          if (opened && wait <= 0) break;
          const want = Math.max(1, Math.ceil((batchRows - batch.events) / this.perEntry));
          const res = (await this.conn.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', want,
            'BLOCK', this.draining ? 1 : Math.max(1, Math.min(wait, 1000)), 'STREAMS', this.stream, '>')) as Array<[string, Entry[]]> | null;
          const got = res?.[0]?.[1] ?? [];
          if (this.draining && got.length === 0) {
            this.stopping = true; // drained: store this last batch, then stop
            break;
          }
          if (got.length && !opened) opened = Date.now();
          let events = 0;
          for (const [id, fields] of got) events += batch.addEntry(id, fields);
          if (got.length) this.perEntry = Math.max(1, Math.min(EVENTS_PER_ENTRY, events / got.length));
          if (!opened && Date.now() >= this.nextClaim) break; // idle: look for dead consumers' entries
        }
        if (batch.ids.length) {
          // insert in the background while the next batch is read; one insert at a time
          await this.settle();
          this.inflight = this.persist(batch, false).catch((e) => {
            this.log.warn({ err: (e as Error).message }, 'ingester: batch left pending (it will be claimed again)');
          });
        }
        await this.maybeTrim();
      } catch (e) {
        if (this.stopping) break;
        const msg = (e as Error).message;
        if (msg.includes('NOGROUP')) await this.ensureGroup().catch(() => {});
        else this.log.warn({ err: msg }, 'ingester: Redis error, retrying');
        await sleep(500);
      }
    }
    await this.settle();
  }

  private async settle(): Promise<void> {
    const p = this.inflight;
    this.inflight = null;
    if (p) await p;
  }

  /** Entries of dead consumers, idle longer than pipeline.claimIdleSeconds. */
  private async claim(): Promise<Entry[]> {
    if (Date.now() < this.nextClaim) return [];
    const idleMs = this.opts.pipeline.claimIdleSeconds * 1000;
    this.nextClaim = Date.now() + Math.max(250, idleMs / 2);
    const out: Entry[] = [];
    let cursor = '0-0';
    for (let i = 0; i < 100 && out.length < this.opts.pipeline.batchRows; i++) {
      const [next, entries] = (await this.conn.xautoclaim(this.stream, this.group, this.consumer, idleMs, cursor,
        'COUNT', Math.min(1000, this.opts.pipeline.batchRows - out.length))) as [string, Array<Entry | null>, string[]?];
      for (const e of entries) if (e) out.push(e);
      cursor = next;
      if (cursor === '0-0') break;
    }
    if (out.length) {
      m.claimed.inc(out.length);
      this.log.warn({ entries: out.length }, 'claimed events a stopped ingester left unacknowledged');
      this.nextClaim = 0; // there may be more
    }
    return out;
  }

  /** Insert (retrying until it succeeds or we are stopped), then acknowledge. */
  private async persist(batch: EventBatch, claimed: boolean): Promise<void> {
    const ids = batch.ids;
    const token = batchToken(this.stream, ids);
    const keepText = !this.opts.store.embedded;
    let encoded = claimed ? null : batch.encode({ keepText });
    for (let attempt = 0; ; attempt++) {
      try {
        // claimed entries: a dead ingester may have stored some of them without acknowledging
        if (!encoded) encoded = batch.encode({ keepText, skipIds: await this.alreadyStored(batch) });
        const started = performance.now();
        await this.opts.store.insertTranscoded('events', WIRE_COLUMNS, encoded, token);
        m.insertSeconds.observe((performance.now() - started) / 1000);
        if (this.failingSince) this.log.info({ afterSeconds: Math.round((Date.now() - this.failingSince) / 1000) }, 'ClickHouse takes inserts again: the stream drains');
        this.failingSince = 0;
        m.ingestFailingSince.set(0);
        m.ingestDiskFull.set(0);
        break;
      } catch (e) {
        this.failures++;
        m.insertFailures.inc();
        if (!this.failingSince) {
          this.failingSince = Date.now();
          m.ingestFailingSince.set(Math.floor(this.failingSince / 1000));
        }
        const diskFull = isDiskFull(e as Error);
        m.ingestDiskFull.set(diskFull ? 1 : 0);
        if (diskFull && attempt === 0) {
          this.log.error({ err: (e as Error).message }, 'ClickHouse refuses inserts: the data directory\'s disk is full. Events wait in the Redis stream (then the spool); free space and they are stored');
        }
        const wait = Math.min(this.opts.pipeline.retryMaxSeconds * 1000, 100 * 2 ** Math.min(attempt, 16)) * (0.75 + Math.random() * 0.5);
        if (attempt === 0 || attempt % 10 === 0) {
          this.log.warn({ err: (e as Error).message, events: encoded?.rows ?? batch.events, attempt: attempt + 1, retryInMs: Math.round(wait) }, 'ClickHouse insert failed: keeping the batch and retrying');
        }
        if (claimed) encoded = null; // ask again what is stored: the failed insert may have gone through
        if (this.stopping) return; // stays pending: claimed by the next ingester
        // still ours: reset the entries' idle time so a live peer does not claim them meanwhile
        await this.conn.xclaim(this.stream, this.group, this.consumer, 0, ...ids, 'JUSTID').catch(() => {});
        // sleep in slices so stop() is not held up by a long backoff
        for (const until = Date.now() + wait; Date.now() < until && !this.stopping;) await sleep(Math.min(100, until - Date.now()));
        if (this.stopping) return;
      }
    }
    if (this.opts.afterInsert) await this.opts.afterInsert(ids);
    if (this.opts.afterStored) {
      await this.opts.afterStored(batch).catch((e) => this.log.warn({ err: (e as Error).message }, 'ingester: the alert check of a stored batch failed (the next attempt in the same window checks again)'));
    }
    if (encoded.invalid.length) await this.deadLetter(encoded.invalid);
    await this.conn.xack(this.stream, this.group, ...ids);
    this.stored += encoded.rows;
    this.batches++;
    m.stored.inc(encoded.rows);
  }

  /** Event ids of the batch that are already stored (claimed entries a dead ingester may have inserted). */
  private async alreadyStored(batch: EventBatch): Promise<Set<string>> {
    const seen = new Set<string>();
    const { ids, from, to } = batch.idsAndRange();
    if (ids.length === 0 || !Number.isFinite(from)) return seen;
    const iso = (t: number) => new Date(t).toISOString().replace('Z', '');
    for (let i = 0; i < ids.length; i += UUIDS_PER_QUERY) {
      const chunk = ids.slice(i, i + UUIDS_PER_QUERY).filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id));
      if (chunk.length === 0) continue;
      const found = await this.opts.store.rows<{ id: string }>(
        `SELECT DISTINCT toString(event_id) AS id FROM ${this.opts.store.database}.events
         WHERE ts >= toDateTime64({from:String}, 3, 'UTC') AND ts <= toDateTime64({to:String}, 3, 'UTC') AND event_id IN {ids:Array(UUID)}`,
        { from: iso(from), to: iso(to), ids: chunk });
      for (const f of found) seen.add(f.id.toLowerCase());
    }
    if (seen.size) this.log.info({ skipped: seen.size }, 'claimed events already stored by the stopped ingester: not inserted again');
    return seen;
  }

  private async deadLetter(rejected: Rejected[]): Promise<void> {
    const tx = this.conn.multi();
    for (const r of rejected) tx.xadd(`${this.stream}:rejected`, '*', 'id', r.id, 'index', String(r.index), 'error', r.error, 'raw', r.raw);
    await tx.exec();
    m.rejected.inc(rejected.length);
    this.log.error({ count: rejected.length, first: `${rejected[0]!.id}#${rejected[0]!.index}: ${rejected[0]!.error}`, stream: `${this.stream}:rejected` }, 'stream entries that are not valid events were moved to the dead-letter stream');
  }

  /** Current group states, for trimming and the lag metric. */
  async groups(): Promise<GroupState[]> {
    const raw = (await this.conn.xinfo('GROUPS', this.stream)) as Array<Array<string | number | null>>;
    const out: GroupState[] = [];
    for (const g of raw) {
      const o: Record<string, string | number | null> = {};
      for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1] ?? null;
      const pending = Number(o.pending ?? 0);
      let minPending: string | null = null;
      if (pending > 0) {
        const summary = (await this.conn.xpending(this.stream, String(o.name))) as [number, string | null, string | null, unknown];
        minPending = summary[1];
      }
      out.push({ name: String(o.name), pending, minPending, lastDelivered: String(o['last-delivered-id'] ?? '0-0') });
      if (o.name === this.group) m.lag.set(pending + Number(o.lag ?? 0));
    }
    return out;
  }

  private async maybeTrim(): Promise<void> {
    if (Date.now() - this.lastTrim < (this.opts.trimEveryMs ?? TRIM_EVERY_MS)) return;
    this.lastTrim = Date.now();
    const floor = safeTrimId(await this.groups());
    // exact, not '~': entries are packed, so a stream rarely holds the hundred entries an approximate trim frees at once
    if (floor) await this.conn.xtrim(this.stream, 'MINID', floor);
  }
}
