import { encodeEvent, W, WIRE_FIELD } from '../../core/events/wire.ts';
import { eventsOfEntries } from '../helpers/stream-events.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ingester } from '../../analyser/ingest/ingester.ts';
import { createStreamSink, type StreamSink } from '../../core/events/stream-sink.ts';
import type { Platform } from '../../core/platform.ts';
import { Store } from '../../core/storage/clickhouse.ts';
import { freePort } from '../../core/storage/redis.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { makeEvent, pipelineConfig, rollupDelta, rollupRequests, streamEventCount, waitFor } from './events.ts';

// The ingester on the real embedded ClickHouse and a real redis-server: batching, exactly-once
// through a stopped ingester and an unreachable ClickHouse server, claiming, dead letters, trimming.

let platform: Platform;
let cleanup: () => Promise<void>;
let dataDir: string;

beforeAll(async () => {
  ({ platform, cleanup, dataDir } = await openTestPlatform());
});
afterAll(async () => cleanup());

async function counts(pathPrefix: string): Promise<{ n: number; u: number }> {
  const r = await platform.store.one<{ n: number; u: number }>(
    'SELECT count() AS n, uniqExact(event_id) AS u FROM fairwatch.events WHERE startsWith(path, {p:String})', { p: pathPrefix });
  return { n: Number(r!.n), u: Number(r!.u) };
}

async function send(sink: StreamSink, from: number, count: number, prefix: string): Promise<void> {
  for (let i = from; i < from + count; i++) {
    sink.emit(makeEvent(i, { path: `${prefix}${i}` }));
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  await sink.flush();
}

describe('ingester on the embedded ClickHouse', () => {
  it('sink → stream → ClickHouse: every event once, in batches by rows or time; stream trimmed once acknowledged', async () => {
    const pipeline = pipelineConfig({ stream: 'i:basic', batchRows: 2000, batchMs: 200 });
    const sink = createStreamSink({ redis: platform.redis, dataDir, pipeline });
    const ing = new Ingester({ store: platform.store, redis: platform.redis, pipeline, trimEveryMs: 0 });
    await ing.start();
    await send(sink, 0, 5500, '/basic/');
    await waitFor('5500 events stored', async () => (await counts('/basic/')).n >= 5500);
    expect(await counts('/basic/')).toEqual({ n: 5500, u: 5500 });
    expect(ing.batches).toBeGreaterThanOrEqual(2); // batches close at 2000 events (or 200 ms); entries hold up to 200 events, so a batch may run over by part of a read
    // every field arrives as sent
    const row = await platform.store.one<Record<string, unknown>>("SELECT * FROM fairwatch.events WHERE path = '/basic/7'");
    expect(row).toMatchObject({ host: 'site7.example', port: 443, status: 200, bytes_up: 512, bytes_down: 20007, user_group: 'staff', category: 'news', action: 'allow', source: 'proxy' });
    await waitFor('the stream to be trimmed', async () => (await streamEventCount(platform.redis, 'i:basic')) < 5500, 10_000);
    await ing.stop();
    await sink.close();
  });

  it('ingester stopped (ClickHouse unavailable, embedded): events wait in the stream, all stored once after it resumes', async () => {
    const pipeline = pipelineConfig({ stream: 'i:stopped', batchRows: 3000, batchMs: 200, claimIdleSeconds: 1 });
    const sink = createStreamSink({ redis: platform.redis, dataDir, pipeline });
    const a = new Ingester({ store: platform.store, redis: platform.redis, pipeline });
    await a.start();
    await send(sink, 0, 1000, '/stopped/');
    await waitFor('first 1000 stored', async () => (await counts('/stopped/')).n >= 1000);
    await a.stop();
    await send(sink, 1000, 4000, '/stopped/');
    expect(await streamEventCount(platform.redis, 'i:stopped')).toBeGreaterThanOrEqual(4000); // held by the stream
    expect((await counts('/stopped/')).n).toBe(1000);
    const b = new Ingester({ store: platform.store, redis: platform.redis, pipeline });
    await b.start();
    await waitFor('all 5000 stored', async () => (await counts('/stopped/')).n >= 5000);
    await b.stop();
    expect(await counts('/stopped/')).toEqual({ n: 5000, u: 5000 });
    await sink.close();
  });

  it('ClickHouse server unreachable: the insert is retried with backoff, nothing acknowledged; a healthy ingester claims the entries, exact count', async () => {
    const pipeline = pipelineConfig({ stream: 'i:down', batchRows: 5000, batchMs: 100, claimIdleSeconds: 1, retryMaxSeconds: 1 });
    const sink = createStreamSink({ redis: platform.redis, dataDir, pipeline });
    const port = await freePort(); // nothing listens here
    const down = await Store.open({ clickhouseUrl: `http://127.0.0.1:${port}`, dataDir });
    const failing = new Ingester({ store: down, redis: platform.redis, pipeline, consumer: 'failing' });
    await failing.start();
    await send(sink, 0, 3000, '/down/');
    await waitFor('three failed attempts', () => failing.failures >= 3, 20_000);
    const pending = (await platform.redis.xpending('i:down', 'ingest')) as [number, string, string, Array<[string, string]>];
    // the batch in hand is read but not acknowledged, and the ingester reads nothing more meanwhile
    expect(pending[0]).toBeGreaterThan(0);
    expect(pending[3]).toEqual([['failing', String(pending[0])]]);
    await new Promise((r) => setTimeout(r, 300));
    expect((await platform.redis.xpending('i:down', 'ingest'))[0]).toBe(pending[0]);
    expect(await streamEventCount(platform.redis, 'i:down')).toBe(3000); // nothing trimmed, nothing dropped
    expect((await counts('/down/')).n).toBe(0);
    await failing.stop(); // gives up the batch: it stays pending
    await down.close();
    const healthy = new Ingester({ store: platform.store, redis: platform.redis, pipeline, consumer: 'healthy' });
    await healthy.start();
    await waitFor('claimed entries stored', async () => (await counts('/down/')).n >= 3000, 20_000);
    await healthy.stop();
    expect(await counts('/down/')).toEqual({ n: 3000, u: 3000 });
    expect((await platform.redis.xpending('i:down', 'ingest'))[0]).toBe(0);
    await sink.close();
  });

  it('inserted but not acknowledged (crash between insert and XACK): claimed by another ingester, not stored twice', async () => {
    const pipeline = pipelineConfig({ stream: 'i:noack', batchRows: 1000, batchMs: 100, claimIdleSeconds: 1 });
    const sink = createStreamSink({ redis: platform.redis, dataDir, pipeline });
    let crashed = false;
    const a = new Ingester({
      store: platform.store, redis: platform.redis, pipeline, consumer: 'crashes',
      // the process "dies" right after its insert: the loop never reaches XACK
      afterInsert: () => { crashed = true; return new Promise<void>(() => {}); },
    });
    await a.start();
    await send(sink, 0, 800, '/noack/');
    await waitFor('the insert that is never acknowledged', () => crashed);
    const inserted = (await counts('/noack/')).n;
    expect(inserted).toBeGreaterThan(0);
    // it holds unacknowledged what it inserted, plus at most the one batch it read ahead
    const pend = (await platform.redis.xpending('i:noack', 'ingest', '-', '+', 10_000)) as Array<[string]>;
    let held = 0;
    for (const [id] of pend) held += eventsOfEntries(await platform.redis.xrange('i:noack', id, id)).length;
    expect(held).toBeGreaterThanOrEqual(inserted);
    expect(held).toBeLessThanOrEqual(800);
    await send(sink, 800, 700, '/noack/');
    const b = new Ingester({ store: platform.store, redis: platform.redis, pipeline, consumer: 'survivor' });
    await b.start();
    await waitFor('all 1500 acknowledged', async () => (await platform.redis.xpending('i:noack', 'ingest'))[0] === 0
      && (await counts('/noack/')).n >= 1500, 20_000);
    await b.stop();
    expect(await counts('/noack/')).toEqual({ n: 1500, u: 1500 });
    await sink.close();
  });

  it('the same batch inserted twice with its token is stored once; a lagging second group stops trimming', async () => {
    const ids = ['1-1', '1-2'];
    const rows = [makeEvent(1, { path: '/tok/1' }), makeEvent(2, { path: '/tok/2' })].map((e) => ({ ...e }));
    const { batchToken } = await import('../../analyser/ingest/stream-ids.ts');
    const before = await rollupRequests(platform.store);
    await platform.store.insert('events', rows, batchToken('x', ids));
    await platform.store.insert('events', rows, batchToken('x', ids));
    expect(await counts('/tok/')).toEqual({ n: 2, u: 2 });
    expect(rollupDelta(before, await rollupRequests(platform.store))).toEqual({ rollup_person_hourly: 2, rollup_org_hourly: 2, rollup_domains_hourly: 2 });

    const pipeline = pipelineConfig({ stream: 'i:trim', batchRows: 500, batchMs: 100 });
    await platform.redis.xgroup('CREATE', 'i:trim', 'archive', '0', 'MKSTREAM'); // another reader, far behind
    const sink = createStreamSink({ redis: platform.redis, dataDir, pipeline });
    const ing = new Ingester({ store: platform.store, redis: platform.redis, pipeline, trimEveryMs: 0 });
    await ing.start();
    await send(sink, 0, 1200, '/trim/');
    await waitFor('1200 stored', async () => (await counts('/trim/')).n >= 1200);
    await sink.flush();
    // a few more rounds of the loop so it has had the chance to trim
    const batches = ing.batches;
    await send(sink, 1200, 10, '/trim/');
    await waitFor('one more batch', () => ing.batches > batches);
    // the archive group has read nothing: every event is still in the stream
    expect(eventsOfEntries(await platform.redis.xrange('i:trim', '-', '+')).length).toBe(1210);
    const entries = await platform.redis.xlen('i:trim');
    await platform.redis.xgroup('DESTROY', 'i:trim', 'archive');
    await send(sink, 1210, 10, '/trim/');
    await waitFor('trimmed once only the ingest group remains', async () => (await platform.redis.xlen('i:trim')) <= 2, 10_000);
    expect(entries).toBeGreaterThan(2);
    await ing.stop();
    await sink.close();
  });

  it('an entry that is not a valid event goes to the dead-letter stream with the reason; the rest are stored', async () => {
    const pipeline = pipelineConfig({ stream: 'i:bad', batchRows: 100, batchMs: 100 });
    const sink = createStreamSink({ redis: platform.redis, dataDir, pipeline });
    await send(sink, 0, 10, '/bad/');
    const good = (n: number) => encodeEvent({ ...makeEvent(n), path: `/bad/${n}` });
    const withField = (line: string, column: number, value: string) => line.split('\t').map((f, i) => (i === column ? value : f)).join('\t');
    await platform.redis.xadd('i:bad', '*', WIRE_FIELD, withField(good(10), W.event_id, 'nope'));
    await platform.redis.xadd('i:bad', '*', WIRE_FIELD, withField(good(11), W.status, '-1'));
    // one bad line among good ones in a packed entry: only it is left out
    await platform.redis.xadd('i:bad', '*', WIRE_FIELD, [good(12), good(13).replace(/\t443\t|\t80\t/, '\t99999\t'), good(14)].join('\n'));
    await send(sink, 20, 10, '/bad/');
    const ing = new Ingester({ store: platform.store, redis: platform.redis, pipeline });
    await ing.start();
    await waitFor('22 good events stored', async () => (await counts('/bad/')).n >= 22);
    await waitFor('everything acknowledged', async () => (await platform.redis.xpending('i:bad', 'ingest'))[0] === 0);
    await ing.stop();
    expect(await counts('/bad/')).toEqual({ n: 22, u: 22 });
    const dead = (await platform.redis.xrange('i:bad:rejected', '-', '+')).map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]])));
    expect(dead.map((d) => d.error)).toEqual(['event_id: expected a UUID', 'status: expected a whole number from 0 to 65535', 'port: expected a whole number from 0 to 65535']);
    expect(dead[2]).toMatchObject({ index: '1' });
    expect(dead[2]!.raw).toContain('/bad/13');
    await sink.close();
  });
});
