import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../log.ts';
import type { AccessEvent, EventSink } from './event.ts';
import { pipelineMetrics as m } from './metrics.ts';
import { Journal, sinkOwner, Spool, type SpoolBatch } from './spool.ts';
import { encodeEvent, EVENTS_PER_ENTRY, WIRE_FIELD } from './wire.ts';
import { FairwatchError } from '../errors.ts';
import { logRedisErrors } from '../storage/redis-errors.ts';

// The proxy side of the pipeline. emit() encodes the event as a wire line (wire.ts) and
// pushes it onto an array: browsing never waits. Every LINGER_MS (sooner once LINGER_MAX_EVENTS
// wait, or on flush) the pending events go to the Redis stream as one MULTI/EXEC of XADDs,
// EVENTS_PER_ENTRY lines to an entry (pipelined, all-or-nothing), one transaction in flight at a
// time. A write that fails or is not answered within pipeline.writeTimeoutMs goes to the disk
// spool instead, and from then on every new batch is spooled too (behind it) until the spool has
// been replayed, so order is kept.
//
// Every event gets a sequence number at emit and is appended to the sink's journal (see spool.ts),
// so a SIGKILLed proxy worker loses nothing that was emitted: the sink that adopts its directory
// replays what never reached the stream.
//
// No batch is ever doubled: each transaction also sets `<stream>:sink:<sink id>` to the sequence
// number of its last event, atomically with its XADDs. A timed-out write that Redis did carry out,
// or a journal event that did get through before the kill, is therefore recognised at replay (its
// number is not above the mark) and skipped.

export type PipelineConfig = Config['pipeline'];

export interface StreamSinkOptions {
  /** a Redis URL, or a client whose connection settings are reused (a private connection is made) */
  redis: string | Redis;
  /** the data directory: the spool lives in `<dataDir>/spool` */
  dataDir: string;
  pipeline: PipelineConfig;
  log?: Logger;
}

export interface StreamSink extends EventSink {
  /** events waiting in memory, and bytes in the spool (for health pages and tests) */
  stats(): { buffered: number; spoolBytes: number; spooling: boolean };
  readonly sinkId: string;
}

/** Events per MULTI: bigger batches are split, so one transaction never holds Redis for long. */
const MAX_PER_TX = 2000;
/**
 * How long a batch waits for more events before it is sent. Each transaction wakes Redis and then
 * this thread for the answer, and on a small machine those wake-ups compete with the requests for
 * the cores; the events are in the journal meanwhile, so waiting loses nothing and only delays
 * when they reach the stream (the ingester batches for far longer anyway).
 */
const LINGER_MS = 20;
/** a batch this large goes without waiting */
const LINGER_MAX_EVENTS = 200;
const MARK_TTL_S = 30 * 86_400;
const REPLAY_RETRY_MS = [100, 250, 500, 1000, 2000];

export const sinkMarkKey = (stream: string, sink: string) => `${stream}:sink:${sink}`;
const RAISE_MARK = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end return 1";

class TimeoutError extends FairwatchError {
  constructor(message: string) {
    super('FW_STREAM_TIMEOUT', message);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms); }),
  ]);
}

export function createStreamSink(opts: StreamSinkOptions): StreamSink {
  return new RedisStreamSink(opts);
}

class RedisStreamSink implements StreamSink {
  readonly sinkId = `${sinkOwner()}-${randomBytes(6).toString('hex')}`;
  private readonly conn: Redis;
  private readonly spool: Spool;
  private readonly log: Logger;
  private readonly stream: string;
  private readonly journal: Journal;
  private buffer: string[] = [];
  /** sequence number of the last event emitted, and of the last one taken into a batch */
  private emittedSeq = 0;
  private takenSeq = 0;
  private running = false;
  private scheduled = false;
  private closed = false;
  private waiters: Array<() => void> = [];
  private replayTimer: NodeJS.Timeout | null = null;
  private replayFailures = 0;
  private warned = false;
  private journalFailing = false;
  /** the reason Redis last refused a write ('memory' | 'disk'), while it keeps refusing */
  private refusing: string | null = null;
  private spoolFailing = false;

  constructor(private readonly opts: StreamSinkOptions) {
    this.log = opts.log ?? createLogger('event-sink');
    this.stream = opts.pipeline.stream;
    // A private connection: no offline queue and no automatic resend, so a command either reaches
    // Redis once or fails here (and its batch is spooled) — never sent twice behind our back.
    const own = {
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      connectTimeout: Math.max(500, opts.pipeline.writeTimeoutMs),
      lazyConnect: false,
    };
    this.conn = typeof opts.redis === 'string' ? new Redis(opts.redis, own) : opts.redis.duplicate(own);
    logRedisErrors(this.conn, this.log, 'event sink');
    this.spool = new Spool(join(opts.dataDir, 'spool'), this.sinkId, opts.pipeline.spoolMaxMB * 1024 * 1024);
    this.journal = new Journal(this.spool.dir, this.sinkId);
    this.spool.adoptOrphans();
    this.gauge();
    if (this.spool.hasData) this.scheduleReplay(0);
    // A queued batch can only be sent once connected; when the connection comes (back), go.
    this.conn.on('ready', () => this.kick());
  }

  emit(event: AccessEvent): void {
    if (this.closed) {
      // a request that ended after its worker closed the sink: say so rather than throw into the proxy
      m.dropped.inc();
      this.log.error({ event_id: event.event_id }, 'event emitted after the sink was closed: lost (close the listener before the sink)');
      return;
    }
    const line = encodeEvent(event);
    if (!this.journal.append(++this.emittedSeq, line)) this.journalFailed();
    else this.journalFailing = false;
    this.buffer.push(line);
    m.emitted.inc();
    this.kick();
  }

  /** The journal could not be written (disk full): said once per episode, counted every time. */
  private journalFailed(): void {
    m.journalWriteErrors.inc();
    if (this.journalFailing) return;
    this.journalFailing = true;
    this.log.error({ dir: this.spool.dir }, 'cannot write the event journal (disk full?): events still go to Redis, but a killed proxy worker would lose the ones not yet sent; free space in the data directory');
  }

  stats() {
    return { buffered: this.buffer.length, spoolBytes: this.spool.bytes, spooling: this.spool.hasData };
  }

  flush(): Promise<void> {
    if (!this.running && !this.scheduled && this.buffer.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.kick();
    });
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.replayTimer) clearTimeout(this.replayTimer);
    this.replayTimer = null;
    // one last chance to empty the spool while Redis is there, then leave the rest on disk
    if (this.spool.hasData && this.conn.status === 'ready') {
      try {
        await this.replay();
      } catch {
        /* stays spooled for the next sink on this data directory */
      }
    }
    this.journal.release(this.takenSeq);
    this.journal.close();
    await this.spool.close();
    this.conn.disconnect();
  }

  private lingerTimer: NodeJS.Timeout | null = null;

  /**
   * Sends what is buffered, soon. Events are already in the journal, so there is no hurry: a batch
   * waits up to LINGER_MS for others to join it (one transaction to Redis instead of one per
   * request when traffic is light), and goes at once when it is large or someone waits on flush().
   */
  private kick(): void {
    if (this.running) return;
    const urgent = this.urgent();
    if (this.scheduled) {
      if (!urgent || !this.lingerTimer) return;
      clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
    }
    this.scheduled = true;
    const go = () => {
      this.lingerTimer = null;
      this.scheduled = false;
      void this.run();
    };
    if (urgent) setImmediate(go);
    else this.lingerTimer = setTimeout(go, LINGER_MS);
  }

  /** a batch that goes without lingering: a large one, or one someone waits for */
  private urgent(): boolean {
    return this.buffer.length >= LINGER_MAX_EVENTS || this.waiters.length > 0 || this.closed;
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let first = true;
    try {
      // what arrived while a transaction was out waits its turn too (kick below), unless it is urgent:
      // sending it straight away would be a transaction per round trip to Redis under steady load
      while (this.buffer.length > 0 && (first || this.urgent())) {
        first = false;
        const events = this.buffer.splice(0, MAX_PER_TX);
        this.takenSeq += events.length;
        const batch: SpoolBatch = { sink: this.sinkId, seq: this.takenSeq, events };
        if (!this.spool.hasData && this.conn.status !== 'ready') await this.firstConnect();
        if (this.spool.hasData || this.conn.status !== 'ready') {
          // the first batch of an outage says so: Redis may be gone before any write could fail
          if (!this.spool.hasData) this.log.warn({ redis: this.conn.status, events: events.length }, 'event stream not connected: spooling to disk');
          await this.toSpool(batch);
          this.journal.release(batch.seq);
          this.scheduleReplay();
          continue;
        }
        try {
          await this.write(batch);
          this.journal.release(batch.seq);
          m.streamed.inc(events.length);
          this.refusing = null;
        } catch (e) {
          if (!this.refused(e, events.length)) this.log.warn({ err: (e as Error).message, events: events.length }, 'event stream write failed: spooling to disk');
          await this.toSpool(batch);
          this.journal.release(batch.seq);
          this.scheduleReplay();
        }
      }
    } finally {
      this.running = false;
      if (this.buffer.length > 0) this.kick();
      else {
        const w = this.waiters;
        this.waiters = [];
        for (const r of w) r();
      }
    }
  }

  /** Right after start the connection is still being made: wait for it (bounded), not spool. */
  private async firstConnect(): Promise<void> {
    if (!['wait', 'connecting', 'connect'].includes(this.conn.status)) return;
    await new Promise<void>((resolve) => {
      const done = () => { clearTimeout(t); this.conn.off('ready', done); resolve(); };
      const t = setTimeout(done, this.opts.pipeline.writeTimeoutMs);
      this.conn.once('ready', done);
    });
  }

  /** One batch to the stream, atomically with the sink's sequence mark. */
  private async write(b: SpoolBatch): Promise<void> {
    const tx = this.conn.multi();
    // wire lines go EVENTS_PER_ENTRY to an entry
    for (let i = 0; i < b.events.length; i += EVENTS_PER_ENTRY) {
      tx.xadd(this.stream, '*', WIRE_FIELD, b.events.slice(i, i + EVENTS_PER_ENTRY).join('\n'));
    }
    // the mark only moves forward, even if a timed-out transaction is carried out late
    tx.eval(RAISE_MARK, 1, sinkMarkKey(this.stream, b.sink), String(b.seq), String(MARK_TTL_S));
    const res = await withTimeout(tx.exec(), this.opts.pipeline.writeTimeoutMs);
    if (!res) throw new Error('transaction aborted');
    const err = res.find(([e]) => e)?.[0];
    if (err) throw err;
  }

  /**
   * A write Redis refused with an answer (not a timeout): at its memory limit (OOM, noeviction) or
   * unable to write its append-only file (MISCONF, disk full). Counted, and said once per episode.
   * Returns whether it was such a refusal.
   */
  private refused(e: unknown, events: number): boolean {
    const text = String((e as Error)?.message ?? e) + ' ' + String((e as { previousErrors?: Error[] })?.previousErrors?.map((p) => p.message).join(' ') ?? '');
    const reason = /\bOOM\b/.test(text) ? 'memory' : /MISCONF/.test(text) ? 'disk' : null;
    if (!reason) return false;
    m.refused.inc({ reason }, events);
    if (this.refusing !== reason) {
      this.refusing = reason;
      if (reason === 'memory') this.log.error({ events }, 'Redis refuses event writes: it is at its memory limit (pipeline.redisMaxMemoryMB, noeviction); events go to the disk spool until the ingester has drained the stream');
      else this.log.error({ events }, 'Redis refuses event writes: it cannot write its append-only file (disk full?); events go to the disk spool; free space in the data directory');
    }
    return true;
  }

  private async toSpool(b: SpoolBatch): Promise<void> {
    let ok = false;
    let failure: string | null = null;
    try {
      ok = await this.spool.append(b);
    } catch (e) {
      failure = (e as Error).message;
    }
    if (ok) {
      m.spooled.inc(b.events.length);
      if (this.spoolFailing) this.log.info({ dir: this.spool.dir }, 'event spool writable again');
      this.spoolFailing = false;
      m.spoolWriteFailing.set(0);
    } else if (failure !== null) {
      m.dropped.inc(b.events.length);
      m.spoolWriteErrors.inc();
      m.spoolWriteFailing.set(1);
      // every loss is logged with its count; the first of an episode also says what to do
      this.log.error({ err: failure, events: b.events.length, dir: this.spool.dir, first: !this.spoolFailing }, 'cannot write the event spool (disk full?) while Redis does not take events: events lost; free space in the data directory');
      this.spoolFailing = true;
    } else {
      m.dropped.inc(b.events.length);
      this.log.error({ events: b.events.length, spoolMaxMB: this.opts.pipeline.spoolMaxMB, dir: this.spool.dir }, 'event spool full (pipeline.spoolMaxMB): events lost');
    }
    this.gauge();
  }

  private gauge(): void {
    const ratio = this.spool.bytes / this.spool.maxBytes;
    m.spoolBytes.set(this.spool.bytes);
    m.spoolUsage.set(ratio);
    if (ratio >= 0.8 && !this.warned) {
      this.warned = true;
      this.log.warn({ bytes: this.spool.bytes, spoolMaxMB: this.opts.pipeline.spoolMaxMB, dir: this.spool.dir }, 'event spool above 80% of pipeline.spoolMaxMB: is Redis down?');
    } else if (ratio < 0.7) this.warned = false;
  }

  private scheduleReplay(delay?: number): void {
    if (this.replayTimer || this.closed) return;
    const ms = delay ?? REPLAY_RETRY_MS[Math.min(this.replayFailures, REPLAY_RETRY_MS.length - 1)]!;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = null;
      void this.replayStep();
    }, ms);
    this.replayTimer.unref();
  }

  private async replayStep(): Promise<void> {
    if (this.running) {
      this.scheduleReplay();
      return;
    }
    this.running = true; // the spool and the live path never run at once: that keeps order
    try {
      if (this.conn.status !== 'ready') throw new Error(`redis ${this.conn.status}`);
      this.spool.adoptOrphans();
      await this.replay();
      this.replayFailures = 0;
      this.refusing = null;
    } catch (e) {
      this.replayFailures++;
      this.refused(e, 0);
      if (this.replayFailures === 1) this.log.warn({ err: (e as Error).message }, 'event spool replay waiting for Redis');
      // A slow Redis still answers in order on this connection, so the replay's mark check sees a
      // late write; only a connection that stays silent for several tries is dropped.
      if (e instanceof TimeoutError && this.replayFailures % 5 === 0) this.conn.disconnect(true);
    } finally {
      this.running = false;
      this.gauge();
      if (this.spool.hasData) this.scheduleReplay();
      this.kick();
    }
  }

  /**
   * Replays adopted directories (spool segments, then journal events that reached neither stream nor
   * spool), then this sink's own segments, each in order; a file is removed only once all its events
   * are in the stream.
   */
  private async replay(): Promise<void> {
    for (const dir of this.spool.adoptedDirs()) {
      for (const seg of await this.spool.segments(dir)) await this.replaySegment(seg);
      for (const jnl of this.spool.journals(dir)) await this.replayJournal(jnl);
      await this.spool.removeIfDone(dir);
    }
    for (let round = 0; round < 1000; round++) {
      const segs = await this.spool.segments(this.spool.dir);
      if (segs.length === 0) break;
      for (const seg of segs) await this.replaySegment(seg);
    }
    this.gauge();
    if (!this.spool.hasData) {
      this.log.info({ sink: this.sinkId }, 'event spool replayed');
      // the spool is not needed any more: a write that failed on a full disk is history
      this.spoolFailing = false;
      m.spoolWriteFailing.set(0);
    }
  }

  private async mark(sink: string): Promise<number> {
    return Number(await withTimeout(this.conn.get(sinkMarkKey(this.stream, sink)), this.opts.pipeline.writeTimeoutMs) ?? 0);
  }

  private async replaySegment(seg: string): Promise<void> {
    const { batches, problems } = await this.spool.read(seg);
    for (const p of problems) this.log.error({ problem: p }, 'unreadable spool line skipped (torn by a crash before it was synced)');
    const marks = new Map<string, number>();
    for (const b of batches) {
      if (!marks.has(b.sink)) marks.set(b.sink, await this.mark(b.sink));
      if (b.seq <= marks.get(b.sink)!) {
        // its write timed out here but was carried out by Redis: already in the stream
        this.log.info({ sink: b.sink, seq: b.seq, events: b.events.length }, 'spooled batch already in the stream: skipped');
        m.replaySkipped.inc(b.events.length);
        continue;
      }
      await this.write(b); // batches hold at most MAX_PER_TX events, so one transaction each
      marks.set(b.sink, b.seq);
      m.streamed.inc(b.events.length);
      m.replayed.inc(b.events.length);
    }
    await this.spool.remove(seg);
    this.gauge();
  }

  /** Journal lines are single events; those above the dead sink's mark are sent in order. */
  private async replayJournal(path: string): Promise<void> {
    const { batches, problems } = await this.spool.read(path);
    // a torn last line is an event whose emit was cut by the kill: its request never completed
    if (problems.length) this.log.warn({ problems }, 'torn journal line skipped');
    const marks = new Map<string, number>();
    let chunk: SpoolBatch | null = null;
    let sent = 0;
    const send = async () => {
      if (!chunk) return;
      await this.write(chunk);
      marks.set(chunk.sink, chunk.seq);
      sent += chunk.events.length;
      m.streamed.inc(chunk.events.length);
      m.replayed.inc(chunk.events.length);
      chunk = null;
    };
    for (const b of batches) {
      if (!marks.has(b.sink)) marks.set(b.sink, await this.mark(b.sink));
      if (b.seq <= marks.get(b.sink)!) continue;
      if (chunk && (chunk.sink !== b.sink || chunk.events.length >= MAX_PER_TX || b.seq !== chunk.seq + 1)) await send();
      if (!chunk) chunk = { sink: b.sink, seq: b.seq, events: [] };
      chunk.events.push(...b.events);
      chunk.seq = b.seq;
    }
    await send();
    if (sent) this.log.warn({ events: sent, file: path }, 'events of a stopped proxy worker recovered from its journal');
    await rm(path, { force: true });
  }
}
