import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_BLOCK_COLUMNS, EventBatch } from '../../analyser/ingest/event-batch.ts';
import { batchToken } from '../../analyser/ingest/stream-ids.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import { decodeEvent, encodeEvent, EVENTS_PER_ENTRY, WIRE_COLUMNS, WIRE_FIELD } from '../../core/events/wire.ts';
import type { Platform } from '../../core/platform.ts';
import { EVENT_COLUMNS } from '../../core/storage/tables.ts';
import { appendStringColumn, NativeBlockBuilder, transcodeTsv } from '../../core/storage/native-block.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { makeEvent, rollupDelta, rollupRequests } from './events.ts';

// The wire format (one TabSeparated line per event) and its one-pass transcoding into a Native
// block: every awkward value survives the trip into the real engine exactly as the TabSeparated
// path (the engine's own parser) stores it, and every malformed line is refused with its column.

/** The events as stream entries of up to EVENTS_PER_ENTRY lines each, read into one batch. */
function batchOf(evs: AccessEvent[]): EventBatch {
  const lines = evs.map(encodeEvent);
  const batch = new EventBatch();
  for (let i = 0; i < lines.length; i += EVENTS_PER_ENTRY) batch.addEntry(`1-${i}`, [WIRE_FIELD, lines.slice(i, i + EVENTS_PER_ENTRY).join('\n')]);
  return batch;
}

let platform: Platform;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ platform, cleanup } = await openTestPlatform());
  await platform.store.command('CREATE TABLE IF NOT EXISTS fairwatch.events_text AS fairwatch.events');
});
afterAll(async () => cleanup());

const awkward: AccessEvent[] = [
  makeEvent(1, { path: '/tab\there/new\nline/back\\slash/quote\'s', host: 'xn--bcher-kva.example', filename: 'résumé 📄.pdf' }),
  makeEvent(2, { path: `/${'long/'.repeat(60)}`, query: 'a=1&b=%20', user_group: '', category: '' }),
  makeEvent(3, { flags: ['executable', "it's", 'back\\slash', 'tab\there'], port: 65535, status: 65535, duration_ms: 4_294_967_295 }),
  makeEvent(4, { bytes_up: Number.MAX_SAFE_INTEGER, bytes_down: 0, ts: '2028-02-29T23:59:59.999Z', event_id: randomUUID().toUpperCase() }),
  makeEvent(5, { ts: '2026-11-23T10:00:00Z', path: '', content_type: 'x'.repeat(300), rule: 'exception:#12', source: 'import' }),
];

describe('wire lines', () => {
  it('an event survives encode → decode', () => {
    for (const e of awkward) {
      const back = decodeEvent(encodeEvent(e));
      const want: Record<string, unknown> = { ...e, source: e.source ?? 'proxy' };
      if (!e.query) delete want.query;
      expect(back).toEqual(want);
    }
  });

  it('bad lines are refused whole, naming the column; the good ones around them kept', () => {
    const good = encodeEvent(makeEvent(10));
    const fields = good.split('\t');
    const withField = (name: string, v: string) => fields.map((f, i) => (WIRE_COLUMNS[i] === name ? v : f)).join('\t');
    const bad: Array<[string, string]> = [
      [withField('event_id', 'not-a-uuid'), 'event_id: expected a UUID'],
      [withField('ts', '2026-02-30 10:00:00'), 'ts: expected a UTC time'],
      [withField('ts', 'yesterday'), 'ts: expected a UTC time'],
      [withField('port', '65536'), 'port: expected a whole number from 0 to 65535'],
      [withField('status', '-1'), 'status: expected a whole number'],
      [withField('bytes_down', '1e5'), 'bytes_down: expected a whole number'],
      [withField('flags', "['a',"), 'flags: '],
      [withField('flags', 'executable'), 'flags: expected a list'],
      [withField('source', 'ends\\'), 'source: ends in a lone backslash'],
      // an escaped tab belongs to the string, so the line runs out of fields further on
      [withField('host', 'ends\\'), 'port: expected a whole number'],
      [fields.slice(0, 10).join('\t'), 'missing'],
      [`${good}\textra`, 'more fields than columns'],
      [withField('path', '\\N'), 'path: \\N (NULL)'],
    ];
    const text = [good, ...bad.map(([l]) => l), good].join('\n');
    const t = transcodeTsv(EVENT_BLOCK_COLUMNS, [Buffer.from(text)]);
    expect(t.rows).toBe(2);
    expect(t.rejected.map((r) => r.line)).toEqual(bad.map((_, i) => i + 1));
    bad.forEach(([, reason], i) => expect(t.rejected[i]!.error).toContain(reason));
    expect(t.rejected[0]!.raw).toBe(bad[0]![0]);
  });
});

describe('Native block into the engine', () => {
  it('stores exactly what the engine makes of the same lines as TabSeparated', async () => {
    const lines = awkward.map(encodeEvent);
    const t = transcodeTsv(EVENT_BLOCK_COLUMNS, [Buffer.from(lines.join('\n'))], { keepText: true });
    expect(t.rejected).toEqual([]);
    await platform.store.insertTranscoded('events', WIRE_COLUMNS, t, 'native-roundtrip');
    await platform.store.insertTsvBody('events_text', WIRE_COLUMNS, t.text!, 'text-roundtrip');
    const q = (table: string) => platform.store.rows<Record<string, unknown>>(
      `SELECT ${EVENT_COLUMNS.map((c) => (c === 'event_id' ? 'toString(event_id) AS event_id' : c)).join(', ')} FROM fairwatch.${table} ORDER BY event_id`);
    const viaNative = await q('events');
    const viaText = await q('events_text');
    expect(viaNative.length).toBe(awkward.length);
    expect(viaNative).toEqual(viaText);
    const three = viaNative.find((r) => r.port === 65535)!;
    expect(three.flags).toEqual(['executable', "it's", 'back\\slash', 'tab\there']);
    expect(viaNative.find((r) => String(r.path).startsWith('/tab'))!.path).toBe('/tab\there/new\nline/back\\slash/quote\'s');
    expect(viaNative.find((r) => String(r.filename).startsWith('r'))!.filename).toBe('résumé 📄.pdf');
    expect(viaNative.find((r) => r.bytes_up === Number.MAX_SAFE_INTEGER)!.ts).toBe('2028-02-29 23:59:59.999');
    await platform.store.command('TRUNCATE TABLE fairwatch.events');
  });

  it('the same batch twice with its token is stored once, in events and in every rollup; claimed events already stored are skipped', async () => {
    const evs = Array.from({ length: 450 }, (_, i) => makeEvent(i, { path: `/dedup/${i}` }));
    const batch = batchOf(evs);
    expect(batch.events).toBe(450);
    const token = batchToken('t', batch.ids);
    const before = await rollupRequests(platform.store);
    await platform.store.insertTranscoded('events', WIRE_COLUMNS, batch.encode(), token);
    await platform.store.insertTranscoded('events', WIRE_COLUMNS, batch.encode(), token);
    const count = async () => Number((await platform.store.one<{ n: number }>("SELECT count() AS n FROM fairwatch.events WHERE startsWith(path, '/dedup/')"))!.n);
    expect(await count()).toBe(450);
    // the views saw the retried batch too: their tables must have dropped it as well
    const each = (n: number) => ({ rollup_person_hourly: n, rollup_org_hourly: n, rollup_domains_hourly: n });
    expect(rollupDelta(before, await rollupRequests(platform.store))).toEqual(each(450));
    const skip = new Set(evs.slice(0, 300).map((e) => e.event_id.toLowerCase()));
    const rest = batch.encode({ skipIds: skip });
    expect(rest.rows).toBe(150);
    expect(rest.skipped).toBe(300);
    await platform.store.insertTranscoded('events', WIRE_COLUMNS, rest, 'another');
    expect(await count()).toBe(600);
    expect(rollupDelta(before, await rollupRequests(platform.store))).toEqual(each(600));
    // the server path's form (TabSeparated through the engine's raw insert): the same rule
    const text = batch.encode({ keepText: true, skipIds: new Set(evs.slice(0, 100).map((e) => e.event_id.toLowerCase())) });
    await platform.store.command("ALTER TABLE fairwatch.events DELETE WHERE startsWith(path, '/dedup/') SETTINGS mutations_sync = 1");
    const mid = await rollupRequests(platform.store);
    await platform.store.insertTsvBody('events', WIRE_COLUMNS, text.text!, 'as-text');
    await platform.store.insertTsvBody('events', WIRE_COLUMNS, text.text!, 'as-text');
    expect(await count()).toBe(350);
    expect(rollupDelta(mid, await rollupRequests(platform.store))).toEqual(each(350));
  });

  it('without a token, two different batches that roll up alike are both counted', async () => {
    // one request each, same person, time, host and size (only the id and path differ): the views
    // produce identical rows from the two batches
    const one = (path: string) => batchOf([makeEvent(1, { path })]);
    const before = await rollupRequests(platform.store);
    await platform.store.insertTranscoded('events', WIRE_COLUMNS, one('/alike/1').encode(), '');
    await platform.store.insertTranscoded('events', WIRE_COLUMNS, one('/alike/2').encode(), '');
    expect(Object.values(rollupDelta(before, await rollupRequests(platform.store)))).toEqual([2, 2, 2]);
  });
});

describe('NativeBlockBuilder', () => {
  it('writes strings of every length class, numbers at their limits, times, UUIDs and lists as the engine reads them back', async () => {
    await platform.store.command(`CREATE TABLE IF NOT EXISTS fairwatch.block_probe (s String, n16 UInt16, n32 UInt32, n64 UInt64, t DateTime64(3, 'UTC'), u UUID, a Array(String), extra String) ENGINE = MergeTree ORDER BY tuple()`);
    const strings = ['', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(200), 'w'.repeat(16_383), 'v'.repeat(16_384), 'é', `${'a'.repeat(130)}€`, 'tab\there',
      // either side of the length where ASCII copying moves from a loop to Buffer.write, and long non-ASCII text
      'c'.repeat(31), 'd'.repeat(32), `${'b'.repeat(40)}résumé 📄`, 'é'.repeat(50), '📄'.repeat(70)];
    const b = new NativeBlockBuilder([
      { name: 's', type: 'String' }, { name: 'n16', type: 'UInt16' }, { name: 'n32', type: 'UInt32' }, { name: 'n64', type: 'UInt64' },
      { name: 't', type: "DateTime64(3, 'UTC')" }, { name: 'u', type: 'UUID' }, { name: 'a', type: 'Array(String)' },
    ]);
    const uuid = randomUUID();
    strings.forEach((str, i) => {
      b.string(0, str);
      b.uint(1, i === 0 ? 65535 : i);
      b.uint(2, i === 0 ? 4_294_967_295 : i);
      b.uint(3, i === 0 ? Number.MAX_SAFE_INTEGER : i);
      b.time(4, Date.UTC(2026, 10, 23, 12, 0, 0, i));
      b.uuid(5, uuid);
      b.strings(6, i % 2 ? [] : [str.slice(0, 5), 'é']);
    });
    expect(() => b.uint(1, 65536)).toThrow(/n16: 65536 is not a whole number from 0 to 65535/);
    const built = b.build();
    expect(built.rows).toBe(strings.length);
    const block = appendStringColumn(built.block, 'extra', strings.map((_, i) => `row ${i}`));
    await platform.store.insertTranscoded('block_probe', ['s', 'n16', 'n32', 'n64', 't', 'u', 'a', 'extra'], { rows: strings.length, block, text: null }, 'probe');
    const rows = await platform.store.rows<Record<string, unknown>>('SELECT s, n16, n32, n64, t, toString(u) AS u, a, extra FROM fairwatch.block_probe ORDER BY n16');
    const byRow = new Map(rows.map((r) => [r.extra, r]));
    strings.forEach((str, i) => {
      const r = byRow.get(`row ${i}`)!;
      expect(r.s).toBe(str);
      expect(r.u).toBe(uuid);
      expect(r.a).toEqual(i % 2 ? [] : [str.slice(0, 5), 'é']);
      expect(r.t).toBe(`2026-11-23 12:00:00.${String(i).padStart(3, '0')}`);
    });
    expect(byRow.get('row 0')).toMatchObject({ n16: 65535, n32: 4_294_967_295, n64: Number.MAX_SAFE_INTEGER });
  });
});
