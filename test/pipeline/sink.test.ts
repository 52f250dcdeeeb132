import { createLogger } from '../../core/log.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineMetrics } from '../../core/events/metrics.ts';
import { decodeSegment, encodeBatch, Journal, markThreadsDead } from '../../core/events/spool.ts';
import { encodeEvent, EVENTS_PER_ENTRY } from '../../core/events/wire.ts';
import { eventsOfEntry } from '../helpers/stream-events.ts';
import { createStreamSink } from '../../core/events/stream-sink.ts';
import { connectRedis, ManagedRedis } from '../../core/storage/redis.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeEvent, pipelineConfig, sleep, streamEventCount, waitFor } from './events.ts';

// The proxy side on a real managed redis-server: batching, the disk spool, replay in order, no
// doubles when a write's answer is lost, the size bound and adoption of a dead sink's spool.

const tmp = tempDir();
let redis: ManagedRedis;
let admin: ReturnType<typeof connectRedis>;

beforeAll(async () => {
  redis = await ManagedRedis.start(tmp.dir);
  admin = connectRedis(redis.url, createLogger('test'));
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
  tmp.cleanup();
});

async function streamPaths(stream: string): Promise<string[]> {
  const out: string[] = [];
  let from = '-';
  for (let i = 0; i < 1000; i++) {
    const page = await admin.xrange(stream, from, '+', 'COUNT', 5000);
    for (const [, f] of page) for (const e of eventsOfEntry(f)) out.push(e.path);
    if (page.length < 5000) break;
    from = `(${page[page.length - 1]![0]}`;
  }
  return out;
}

function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'info' }, dest), lines };
}

describe('stream sink on a real redis-server', () => {
  it('writes every event once, in emit order, batched; emit never waits', async () => {
    const stream = 's:basic';
    const sink = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }) });
    let n = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 125; i++) sink.emit(makeEvent(n++));
      await new Promise((r) => setImmediate(r));
    }
    await sink.flush();
    expect(await admin.xlen(stream)).toBeLessThanOrEqual(5000 / 125 * Math.ceil(125 / EVENTS_PER_ENTRY)); // batches of waiting events: never more entries than ticks
    expect(await streamEventCount(admin, stream)).toBe(5000);
    expect(await streamPaths(stream)).toEqual(Array.from({ length: 5000 }, (_, i) => `/p/${i}`));
    expect(sink.stats()).toEqual({ buffered: 0, spoolBytes: 0, spooling: false });
    await sink.close();
    // an emit after close (a request outliving its worker's shutdown) is counted, never thrown at the proxy
    const dropped = (await pipelineMetrics.dropped.get()).values[0]?.value ?? 0;
    expect(() => sink.emit(makeEvent(9999))).not.toThrow();
    expect((await pipelineMetrics.dropped.get()).values[0]?.value ?? 0).toBe(dropped + 1);
  });

  it('under steady traffic, events that arrive while a transaction is out wait to join the next batch', async () => {
    const stream = 's:steady';
    const sink = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }) });
    const started = performance.now();
    let n = 0;
    // a few events a millisecond: more than one per round trip to Redis, far fewer than a large batch
    while (n < 1200) {
      for (let i = 0; i < 4; i++) sink.emit(makeEvent(n++));
      await sleep(1);
    }
    await sink.flush();
    const elapsedMs = performance.now() - started;
    expect(await streamPaths(stream)).toEqual(Array.from({ length: 1200 }, (_, i) => `/p/${i}`));
    // one transaction (one entry each here) per linger period, or per 200 events when they come faster;
    // sending what arrived during each round trip at once made one per round trip (hundreds)
    expect(await admin.xlen(stream)).toBeLessThanOrEqual(Math.ceil(elapsedMs / 20) + Math.ceil(1200 / 200) + 2);
    await sink.close();
  });

  it('Redis killed mid-load: events go to the spool, then are replayed in order after restart, exact count', async () => {
    const stream = 's:kill';
    const { log, lines } = captureLog();
    const sink = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream, writeTimeoutMs: 300 }), log });
    const spooledBefore = (await pipelineMetrics.spooled.get()).values[0]?.value ?? 0;
    let n = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 100; i++) sink.emit(makeEvent(n++));
      await sleep(10);
      if (round === 8) await redis.kill();
      if (round === 20) {
        expect(sink.stats().spooling).toBe(true);
        expect(readdirSync(join(tmp.dir, 'spool')).length).toBeGreaterThan(0);
        await redis.restart();
      }
    }
    await sink.flush();
    await waitFor('the spool to be replayed', () => !sink.stats().spooling, 30_000);
    const paths = await streamPaths(stream);
    expect(paths.length).toBe(3000);
    expect(paths).toEqual(Array.from({ length: 3000 }, (_, i) => `/p/${i}`));
    expect(((await pipelineMetrics.spooled.get()).values[0]?.value ?? 0) - spooledBefore).toBeGreaterThan(0);
    expect(lines.some((l) => String(l.msg).includes('spooling to disk') || String(l.msg).includes('replay waiting'))).toBe(true);
    await sink.close();
  });

  it('a write whose answer is late is spooled, and not doubled when Redis did carry it out', async () => {
    const stream = 's:late';
    const { log, lines } = captureLog();
    const count = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await c.get()).values[0]?.value ?? 0;
    const before = { spooled: await count(pipelineMetrics.spooled), replayed: await count(pipelineMetrics.replayed), skipped: await count(pipelineMetrics.replaySkipped) };
    const sink = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream, writeTimeoutMs: 100 }), log });
    for (let i = 0; i < 200; i++) sink.emit(makeEvent(i));
    await sink.flush();
    // writes stall for 600 ms: the next batches time out on our side, yet may still be carried out
    await admin.client('PAUSE', 600, 'WRITE');
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 100; i++) sink.emit(makeEvent(200 + round * 100 + i));
      await sleep(30);
    }
    await sink.flush();
    await waitFor('the spool to be replayed', () => !sink.stats().spooling, 30_000);
    const paths = await streamPaths(stream);
    expect(paths).toEqual(Array.from({ length: 700 }, (_, i) => `/p/${i}`));
    expect(lines.some((l) => l.msg === 'event stream write failed: spooling to disk')).toBe(true);
    expect(lines.some((l) => l.msg === 'spooled batch already in the stream: skipped')).toBe(true);
    // every spooled event is accounted for: replayed, or skipped because Redis had it already
    const skipped = await count(pipelineMetrics.replaySkipped) - before.skipped;
    expect(skipped).toBeGreaterThan(0);
    expect(await count(pipelineMetrics.replayed) - before.replayed + skipped).toBe(await count(pipelineMetrics.spooled) - before.spooled);
    await sink.close();
  });

  it('the spool is bounded by pipeline.spoolMaxMB, warns at 80% and counts what it had to drop', async () => {
    const stream = 's:full';
    const dir = tempDir();
    const { log, lines } = captureLog();
    // a Redis that is not there at all: a port nothing listens on
    const sink = createStreamSink({ redis: 'redis://127.0.0.1:1', dataDir: dir.dir, pipeline: pipelineConfig({ stream, spoolMaxMB: 1, writeTimeoutMs: 100 }), log });
    const droppedBefore = (await pipelineMetrics.dropped.get()).values[0]?.value ?? 0;
    const big = 'x'.repeat(900);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 100; i++) sink.emit(makeEvent(round * 100 + i, { path: `/${big}` }));
      await sink.flush();
    }
    const st = sink.stats();
    expect(st.spoolBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(st.spoolBytes).toBeGreaterThan(0.8 * 1024 * 1024);
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('above 80%'))).toBe(true);
    expect(lines.some((l) => l.level === 50 && String(l.msg).includes('spool full'))).toBe(true);
    expect(((await pipelineMetrics.dropped.get()).values[0]?.value ?? 0) - droppedBefore).toBeGreaterThan(0);
    expect((await pipelineMetrics.spoolUsage.get()).values[0]!.value).toBeGreaterThan(0.8);
    await sink.close();
    dir.cleanup();
  });

  it("a dead worker's spool (and a closed sink's) is adopted and replayed by a live sink; a torn last line is reported", async () => {
    const stream = 's:adopt';
    // what a SIGKILLed proxy worker leaves: its directory, named after a pid that no longer exists
    const dead = join(tmp.dir, 'spool', '999999999-deadbeef0000');
    mkdirSync(dead, { recursive: true });
    const evs = Array.from({ length: 50 }, (_, i) => encodeEvent(makeEvent(i)));
    writeFileSync(join(dead, '000000000001.seg'),
      encodeBatch({ sink: '999999999-deadbeef0000', seq: 1, events: evs.slice(0, 25) }) +
      encodeBatch({ sink: '999999999-deadbeef0000', seq: 2, events: evs.slice(25) }) +
      '{"s":"999999999-deadbeef0000","q":3,"e":[{"ts"'); // torn by the kill, never synced
    // a sink that spooled while Redis was away and was closed before it came back
    await redis.kill();
    const first = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream, writeTimeoutMs: 100 }) });
    for (let i = 50; i < 80; i++) first.emit(makeEvent(i));
    await first.flush();
    expect(first.stats().spooling).toBe(true);
    await first.close();
    await redis.restart();
    const { log, lines } = captureLog();
    const second = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }), log });
    await waitFor('adopted spools to be replayed', () => !second.stats().spooling, 30_000);
    const paths = await streamPaths(stream);
    expect(paths.length).toBe(80);
    expect(new Set(paths).size).toBe(80);
    // each sink's events in its own order (order between different sinks carries no meaning)
    const num = (p: string) => Number(p.slice(3));
    expect(paths.filter((p) => num(p) < 50)).toEqual(Array.from({ length: 50 }, (_, i) => `/p/${i}`));
    expect(paths.filter((p) => num(p) >= 50)).toEqual(Array.from({ length: 30 }, (_, i) => `/p/${50 + i}`));
    expect(lines.some((l) => String(l.problem ?? '').includes('000000000001.seg:3'))).toBe(true);
    await second.close();
    expect(readdirSync(join(tmp.dir, 'spool'))).toEqual([]);
  });

  it('a proxy worker SIGKILLed right after emitting: its journal is replayed by the next sink, every event once', async () => {
    const stream = 's:journal';
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'emit-and-die.ts'), redis.url, tmp.dir, stream, '3000', '1000'],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, FAIRWATCH_LOG_LEVEL: 'warn' } });
    expect(child.signal).toBe('SIGKILL');
    expect(await streamEventCount(admin, stream)).toBe(1000); // the rest never reached Redis
    const sink = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }) });
    await waitFor('the journal to be replayed', () => !sink.stats().spooling, 30_000);
    expect(await streamPaths(stream)).toEqual(Array.from({ length: 3000 }, (_, i) => `/p/${i}`));
    await sink.close();
    expect(readdirSync(join(tmp.dir, 'spool'))).toEqual([]);
  });

  it('a proxy worker thread that dies right after emitting: its journal is left alone while the thread may live, and replayed once a sink knows it ended', async () => {
    const stream = 's:thread';
    // the thread runs the compiled sink, as the proxy's worker threads do (dist/ is built by the setup)
    const sinkModule = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'core', 'events', 'stream-sink.js')).href;
    const code = `
      const { workerData } = await import('node:worker_threads');
      const { createStreamSink } = await import(${JSON.stringify(sinkModule)});
      const { url, dataDir, pipeline, events, streamed } = workerData;
      const sink = createStreamSink({ redis: url, dataDir, pipeline });
      for (const e of events.slice(0, streamed)) sink.emit(e);
      await sink.flush();
      for (const e of events.slice(streamed)) sink.emit(e);
      process.exit(1); // ends this thread only, in the same tick: the rest never reaches Redis
    `;
    const events = Array.from({ length: 2000 }, (_, i) => makeEvent(i));
    const w = new Worker(`(async () => { ${code} })()`, { eval: true, workerData: { url: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }), events, streamed: 500 } });
    const tid = w.threadId;
    expect(await new Promise((r) => w.once('exit', r))).toBe(1);
    expect(await streamEventCount(admin, stream)).toBe(500);
    const dirOf = () => readdirSync(join(tmp.dir, 'spool')).filter((d) => d.includes(`${process.pid}t${tid}-`));
    expect(dirOf()).toHaveLength(1);
    // same pid, another thread: without word that it ended, its directory is not taken
    const early = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }) });
    await sleep(300);
    expect(dirOf()).toEqual([expect.stringMatching(new RegExp(`^${process.pid}t${tid}-`))]);
    await early.close();
    markThreadsDead([tid]);
    const sink = createStreamSink({ redis: redis.url, dataDir: tmp.dir, pipeline: pipelineConfig({ stream }) });
    await waitFor('the thread\'s journal to be replayed', () => !sink.stats().spooling && dirOf().length === 0, 30_000);
    expect(await streamPaths(stream)).toEqual(Array.from({ length: 2000 }, (_, i) => `/p/${i}`));
    await sink.close();
    expect(readdirSync(join(tmp.dir, 'spool'))).toEqual([]);
  });
});

describe('the event journal', () => {
  it('writes each event as a one-event spool batch, so replay reads it like any segment line', () => {
    const dir = join(tmp.dir, 'journal-lines');
    mkdirSync(dir, { recursive: true });
    const journal = new Journal(dir, '123t4-"odd\\sink');
    const lines = ['plain', 'tab\there "quoted" back\\slash é 日本 \u0001', ''];
    lines.forEach((line, i) => expect(journal.append(i + 1, line)).toBe(true));
    journal.close();
    const [file] = readdirSync(dir);
    const text = readFileSync(join(dir, file!), 'utf8');
    expect(text).toBe(lines.map((line, i) => encodeBatch({ sink: '123t4-"odd\\sink', seq: i + 1, events: [line] })).join(''));
    expect(decodeSegment(text, file!)).toEqual({ batches: lines.map((line, i) => ({ sink: '123t4-"odd\\sink', seq: i + 1, events: [line] })), problems: [] });
  });
});
