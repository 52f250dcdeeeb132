// Event pipeline benchmark. Run: `node --import tsx bench/ingest.ts [--quick]
// [--rows N] [--stream-rows N] [--seconds S] [--rate EVENTS_PER_S]`.
//
// 1. ingest-only rows/s into the embedded engine: the ingester's own path (stream entries checked and
//    encoded into one Native block per batch, inserted with its de-duplication token), for several
//    batch sizes, against the engine's ceiling measured in the same run (INSERT … SELECT generating
//    the rows inside ClickHouse: no client, no parsing), against the same batches sent as
//    TabSeparated text, and once into a copy of the table without the analyser's rollup views.
// 2. stream → ClickHouse: a pre-filled Redis stream drained by the real Ingester (XREADGROUP, insert,
//    XACK, trim), with the ingester process's memory.
// 3. sustained end-to-end: the real stream sink emitting at a fixed rate while the ingester runs;
//    the stream lag is sampled (it must stay bounded) and the time until the last event is visible.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { EventBatch } from '../analyser/ingest/event-batch.ts';
import type { AccessEvent } from '../core/events/event.ts';
import { encodeEvent, EVENTS_PER_ENTRY, WIRE_COLUMNS, WIRE_FIELD } from '../core/events/wire.ts';
import { Ingester } from '../analyser/ingest/ingester.ts';
import { batchToken } from '../analyser/ingest/stream-ids.ts';
import { parseConfig } from '../core/config/load.ts';
import { createStreamSink } from '../core/events/stream-sink.ts';
import { Platform } from '../core/platform.ts';
import { tempDir } from '../test/helpers/tmp.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const quick = process.argv.includes('--quick');
const ROWS = arg('--rows', quick ? 100_000 : 10_000_000);
const STREAM_ROWS = arg('--stream-rows', quick ? 50_000 : 1_000_000);
const SECONDS = arg('--seconds', quick ? 10 : 30);
const RATE = arg('--rate', quick ? 2000 : 20_000);

const BASE = Date.now() - 3_600_000;
const CATS = ['news', 'shopping', 'social_networks', 'webmail'];
function event(n: number): AccessEvent {
  return {
    ts: new Date(BASE + (n % 3_000_000)).toISOString(), event_id: randomUUID(),
    user_pseudonym: (n % 400).toString(16).padStart(16, '0'), user_group: n % 7 === 0 ? 'volunteers' : 'staff',
    client_pseudonym: (n % 300).toString(16).padStart(16, 'c'), method: 'GET', scheme: n % 3 ? 'https' : 'http',
    host: `www.site${n % 5000}.example`, port: n % 3 ? 443 : 80, path: n % 3 ? '' : `/articles/${n % 10_000}/index.html`,
    status: 200, bytes_up: 700 + (n % 300), bytes_down: 15_000 + (n % 90_000), duration_ms: n % 900,
    content_type: 'text/html', filename: n % 50 ? '' : 'setup.exe', category: CATS[n % 4]!,
    action: 'allow', rule: 'default', flags: n % 50 ? [] : ['executable'], source: 'proxy',
  };
}
/**
 * The stream entries (wire lines, EVENTS_PER_ENTRY to an entry) of events `from`..`from + count`:
 * what the ingester reads, each event with its own id (making them is not timed).
 */
function entries(from: number, count: number): string[][] {
  const out: string[][] = [];
  let lines: string[] = [];
  const prefix = randomUUID().slice(0, 24);
  for (let i = 0; i < count; i++) {
    const n = from + i;
    const line = encodeEvent({ ...event(n), event_id: `${prefix}${(n % 0x1000000000000).toString(16).padStart(12, '0')}` });
    lines.push(line);
    if (lines.length === EVENTS_PER_ENTRY) {
      out.push([WIRE_FIELD, lines.join('\n')]);
      lines = [];
    }
  }
  if (lines.length) out.push([WIRE_FIELD, lines.join('\n')]);
  return out;
}

const mem = { rss: 0, heap: 0 };
const sampleMem = () => {
  const m = process.memoryUsage();
  mem.rss = Math.max(mem.rss, m.rss);
  mem.heap = Math.max(mem.heap, m.heapUsed);
};
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-GB');

const tmp = tempDir('fw-bench-ingest-');
const loaded = { config: parseConfig('', 'bench.yaml'), runtime: { dataDir: tmp.dir, configPath: null, blocklistsDir: '', clickhouseUrl: null, redisUrl: null } };
const p = await Platform.open({ role: 'bench', loaded, store: true, redis: true, env: {} });
const count = async () => Number((await p.store.one<{ n: number }>('SELECT count() AS n FROM fairwatch.events'))!.n);

try {
  console.log(`fairwatch ingest benchmark — ${new Date().toISOString()}, Node ${process.version}; taken on a shared, busy 2-core machine: expect noise`);
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 cores)`);

  // 1a. the engine's ceiling: rows generated inside ClickHouse
  const ceilingRows = Math.min(ROWS, quick ? 200_000 : 2_000_000);
  let t = performance.now();
  await p.store.command(`INSERT INTO fairwatch.events (ts, event_id, user_pseudonym, user_group, client_pseudonym, method, scheme, host, port, path, status, bytes_up, bytes_down, duration_ms, content_type, filename, category, action, rule, flags, source)
    SELECT now64(3) - number % 3000, generateUUIDv4(), lower(hex(number % 400)), 'staff', lower(hex(number % 300)), 'GET', 'https', concat('www.site', toString(number % 5000), '.example'), 443, '', 200, 700, 15000 + number % 90000, number % 900, 'text/html', '', 'news', 'allow', 'default', [], 'proxy'
    FROM numbers(${ceilingRows})`);
  const ceiling = ceilingRows / ((performance.now() - t) / 1000);
  console.log(`\n1. ingest-only into the embedded engine`);
  console.log(`   baseline  engine ceiling (INSERT … SELECT numbers(${fmt(ceilingRows)}), no client):  ${fmt(ceiling)} rows/s`);
  await p.store.command('TRUNCATE TABLE fairwatch.events');

  // 1a'. the ingester's JavaScript share alone: check + encode the wire lines into a Native block
  {
    const es = entries(0, 50_000);
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const start = performance.now();
      const b = new EventBatch();
      es.forEach((e, i) => b.addEntry(`1-${i}`, e));
      b.encode();
      best = Math.min(best, performance.now() - start);
    }
    console.log(`   JS share  check + encode 50,000 wire lines into one Native block (no engine):  ${fmt(50_000 / (best / 1000))} rows/s (best of 3)`);
  }

  /**
   * Rows/s of `rows` events sent in batches of `size`: each batch read from its entries, checked and
   * encoded, then inserted by `insert` (only this is timed; making the entries is not).
   */
  const timedInserts = async (rows: number, size: number, label: string, insert: (b: EventBatch) => Promise<void>) => {
    let timed = 0;
    for (let done = 0; done < rows; done += size) {
      const es = entries(done, Math.min(size, rows - done));
      const start = performance.now();
      const b = new EventBatch();
      es.forEach((e, i) => b.addEntry(`${label}-${done}-${i}`, e));
      await insert(b);
      timed += performance.now() - start;
      if (done % (size * 10) === 0) sampleMem();
    }
    return rows / (timed / 1000);
  };

  // 1b. the ingester's insert path: entries → check + Native block → insert with its token (one
  // batch after another, as the ingester does; reading the stream is measured in part 2)
  const sizes = [20_000, 50_000, 100_000];
  const results: Array<[number, number]> = [];
  const MAIN = 50_000;
  for (const size of sizes) {
    const rows = size === MAIN ? ROWS : Math.min(ROWS, quick ? 200_000 : 1_000_000);
    const rate = await timedInserts(rows, size, String(size), (b) => p.store.insertTranscoded('events', WIRE_COLUMNS, b.encode(), batchToken('bench', b.ids)));
    results.push([size, rate]);
    const stored = await count();
    console.log(`   ingester  check + Native insert, batch ${String(size).padStart(6)}, ${fmt(rows).padStart(10)} rows:  ${fmt(rate)} rows/s  (${(rate / ceiling).toFixed(2)}× ceiling; stored ${fmt(stored)})`);
    if (stored !== rows) throw new Error(`stored ${stored} of ${rows}`);
    await p.store.command('TRUNCATE TABLE fairwatch.events');
  }
  const insertRate = results.find(([s]) => s === MAIN)![1];
  const smaller = Math.min(ROWS, quick ? 200_000 : 1_000_000);

  // 1c. the same batches inserted as TabSeparated text (the engine parses them): the earlier path
  {
    const rate = await timedInserts(smaller, MAIN, 't', (b) => p.store.insertTsvBody('events', WIRE_COLUMNS, b.encode({ keepText: true }).text!, batchToken('bench-text', b.ids)));
    console.log(`   baseline  same batches as TabSeparated text parsed by the engine, batch ${MAIN}, ${fmt(smaller)} rows:  ${fmt(rate)} rows/s  (Native is ${(insertRate / rate).toFixed(2)}× this)`);
    await p.store.command('TRUNCATE TABLE fairwatch.events');
  }

  // 1d. the same path into a copy of the table without the rollup materialized views (analyser),
  // to separate the ingester's own cost from the rollups every insert also feeds
  await p.store.command('CREATE TABLE IF NOT EXISTS fairwatch.bench_events AS fairwatch.events');
  {
    const rows = smaller;
    const rate = await timedInserts(rows, MAIN, 'p', (b) => p.store.insertTranscoded('bench_events', WIRE_COLUMNS, b.encode(), batchToken('bench-plain', b.ids)));
    console.log(`   ingester  same, batch ${MAIN}, into a copy of events without the 3 rollup views, ${fmt(rows)} rows:  ${fmt(rate)} rows/s  (${(rate / insertRate).toFixed(2)}× with views)`);
    await p.store.command('DROP TABLE fairwatch.bench_events');
  }

  // 2. stream → ClickHouse through the real Ingester
  const pipeline = { ...loaded.config.pipeline, stream: 'bench:events' };
  const sink = createStreamSink({ redis: p.redis, dataDir: tmp.dir, pipeline });
  t = performance.now();
  for (let i = 0; i < STREAM_ROWS; i++) {
    sink.emit(event(i));
    if (i % 2000 === 1999) await sink.flush();
  }
  await sink.flush();
  const fillRate = STREAM_ROWS / ((performance.now() - t) / 1000);
  mem.rss = 0;
  mem.heap = 0;
  const ing = new Ingester({ store: p.store, redis: p.redis, pipeline, trimEveryMs: 1000 });
  const memTimer = setInterval(sampleMem, 100);
  t = performance.now();
  await ing.start();
  for (let i = 0; i < 100_000 && (await count()) < STREAM_ROWS; i++) await new Promise((r) => setTimeout(r, 50));
  const drainRate = STREAM_ROWS / ((performance.now() - t) / 1000);
  clearInterval(memTimer);
  console.log(`\n2. stream → ClickHouse (real Ingester: XREADGROUP, validate, insert with token, XACK, trim), ${fmt(STREAM_ROWS)} events`);
  console.log(`   sink fill (pipelined MULTI/XADD + journal):  ${fmt(fillRate)} events/s`);
  console.log(`   ingester drain:  ${fmt(drainRate)} events/s  (${(drainRate / insertRate).toFixed(2)}× the insert-only rate)`);
  console.log(`   ingester process memory (includes the in-process engine): peak RSS ${mb(mem.rss)}, peak JS heap ${mb(mem.heap)}`);

  // 3. sustained end-to-end at a fixed rate
  const before = await count();
  let sent = 0;
  let maxLag = 0;
  const lagOf = async () => {
    const info = (await p.redis.xinfo('GROUPS', pipeline.stream)) as Array<Array<string | number>>;
    const g = info.find((x) => x[1] === 'ingest')!;
    const o = Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]));
    return Number(o.pending) + Number(o.lag ?? 0);
  };
  const lags: number[] = [];
  const lagTimer = setInterval(() => void lagOf().then((l) => { lags.push(l); maxLag = Math.max(maxLag, l); }), 500);
  t = performance.now();
  const end = t + SECONDS * 1000;
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - t) / 1000) * RATE);
    for (; sent < due; sent++) sink.emit(event(10_000_000 + sent));
    await new Promise((r) => setTimeout(r, 5));
  }
  await sink.flush();
  const emitSeconds = (performance.now() - t) / 1000;
  const stopEmit = performance.now();
  for (let i = 0; i < 100_000 && (await count()) - before < sent; i++) await new Promise((r) => setTimeout(r, 20));
  const drainAfter = (performance.now() - stopEmit) / 1000;
  clearInterval(lagTimer);
  const lagTail = lags.slice(Math.floor(lags.length / 2));
  console.log(`\n3. sustained end-to-end (sink → stream → ingester → visible in ClickHouse) at a target of ${fmt(RATE)} events/s for ${SECONDS} s`);
  console.log(`   emitted ${fmt(sent)} events (${fmt(sent / emitSeconds)} events/s); all visible ${drainAfter.toFixed(2)} s after the last emit`);
  console.log(`   stream lag (pending + unread) sampled every 0.5 s: max ${fmt(maxLag)}, second half max ${fmt(Math.max(0, ...lagTail))} — bounded by about one batch (${pipeline.batchRows} rows or ${pipeline.batchMs} ms)`);
  console.log(`   stored/emitted: ${(((await count()) - before) / sent).toFixed(4)}`);
  console.log(`load average at end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  await ing.stop();
  await sink.close();
} finally {
  await p.close();
  tmp.cleanup();
}
