import type { AccessEvent } from './event.ts';
import { tsvField, tsvString } from '../storage/tsv.ts';

// How events travel through the Redis stream and the spool. Pure.
//
// Version 1: one event is one TabSeparated line of WIRE_COLUMNS, in that order (ClickHouse's own
// escaping, `flags` as an array literal); a stream entry carries up to EVENTS_PER_ENTRY lines joined
// by newlines in its field `t1`. Measured against one JSON event per entry (bench/ingest.ts), this
// cuts both the proxy's encoding and the ingester's reading: Redis hands over a few large strings
// instead of thousands of small ones, and the ingester checks a line without building an object.
//
// The column list is frozen here rather than taken from the table: a later table column gets a new
// wire version, so proxies and ingesters of different releases never disagree about a line.

export const WIRE_FIELD = 't1';
export const EVENTS_PER_ENTRY = 200;

export const WIRE_COLUMNS = [
  'ts', 'event_id', 'user_pseudonym', 'user_group', 'client_pseudonym', 'method', 'scheme', 'host', 'port', 'path', 'query',
  'status', 'bytes_up', 'bytes_down', 'duration_ms', 'content_type', 'filename', 'category', 'action', 'rule', 'flags', 'source',
] as const;
export type WireColumn = (typeof WIRE_COLUMNS)[number];
const COL = Object.fromEntries(WIRE_COLUMNS.map((c, i) => [c, i])) as Record<WireColumn, number>;
export const W = COL;

const N = WIRE_COLUMNS.length;
const UINT_MAX: ReadonlyArray<readonly [number, number]> = [
  [COL.port, 65535], [COL.status, 65535], [COL.bytes_up, Number.MAX_SAFE_INTEGER], [COL.bytes_down, Number.MAX_SAFE_INTEGER], [COL.duration_ms, 4294967295],
];
const ISO_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FLAGS_RE = /^\[(?:'(?:[^'\\]|\\.)*'(?:,'(?:[^'\\]|\\.)*')*)?\]$/;

function text(v: unknown): string {
  return v === undefined || v === null || v === '' ? '' : tsvString(String(v));
}

/** Whole, non-negative, finite: anything else is written as 0 rather than poisoning the line. */
function whole(v: unknown): number {
  return typeof v === 'number' && v > 0 && Number.isFinite(v) ? Math.floor(v) : 0;
}

/** ISO 8601 UTC as the wire wants it; a time in another form is converted, an invalid one kept (and rejected at ingest, with its reason). */
function isoTime(ts: unknown): string {
  if (typeof ts === 'string' && ISO_TS.test(ts)) return ts;
  const t = Date.parse(String(ts));
  return Number.isNaN(t) ? String(ts) : new Date(t).toISOString();
}

/**
 * One event as a wire line. Joined from an array rather than concatenated: concatenation leaves a
 * node per piece (forty-odd per event) for the collector, and a tree the socket write flattens.
 */
export function encodeEvent(e: AccessEvent): string {
  return [
    isoTime(e.ts), text(e.event_id), text(e.user_pseudonym), text(e.user_group), text(e.client_pseudonym), text(e.method), text(e.scheme), text(e.host), whole(e.port), text(e.path), text(e.query),
    whole(e.status), whole(e.bytes_up), whole(e.bytes_down), whole(e.duration_ms), text(e.content_type), text(e.filename), text(e.category), text(e.action), text(e.rule), tsvField(e.flags ?? []), text(e.source ?? 'proxy'),
  ].join('\t');
}

const UNESCAPE: Record<string, string> = { t: '\t', n: '\n', r: '\r', '0': '\0', b: '\b', f: '\f', '\\': '\\', "'": "'" };

/** TabSeparated unescaping (only called when a field holds a backslash). */
export function unescapeTsv(s: string): string {
  return s.indexOf('\\') < 0 ? s : s.replace(/\\(.)/gs, (_, c: string) => UNESCAPE[c] ?? c);
}

/** The elements of a flags literal (already checked against FLAGS_RE). */
export function parseFlags(lit: string): string[] {
  if (lit === '[]') return [];
  const out: string[] = [];
  const re = /'((?:[^'\\]|\\.)*)'/gs;
  for (let m = re.exec(lit); m; m = re.exec(lit)) out.push(unescapeTsv(m[1]!));
  return out;
}

export type WireLine = { ok: true; fields: string[] } | { ok: false; error: string };

/**
 * Checks one wire line: the right number of fields, a UUID, an ISO 8601 UTC time, whole numbers in
 * range, a well-formed flags literal. The fields come back still escaped (as the line holds them).
 * Strings need no check: any bytes between tabs are a valid String.
 */
export function checkLine(line: string): WireLine {
  const f = line.split('\t');
  if (f.length !== N) return { ok: false, error: `expected ${N} tab-separated fields, found ${f.length}` };
  if (!UUID_RE.test(f[COL.event_id]!)) return { ok: false, error: 'event_id: expected a UUID' };
  if (!ISO_TS.test(f[COL.ts]!) || Number.isNaN(Date.parse(f[COL.ts]!))) return { ok: false, error: 'ts: expected an ISO 8601 UTC time' };
  for (const [i, max] of UINT_MAX) {
    const v = f[i]!;
    if (v.length === 0 || v.length > 16 || !/^\d+$/.test(v) || Number(v) > max) return { ok: false, error: `${WIRE_COLUMNS[i]}: expected a whole number from 0 to ${max}` };
  }
  if (f[COL.flags] !== '[]' && !FLAGS_RE.test(f[COL.flags]!)) return { ok: false, error: "flags: expected a list like ['executable']" };
  return { ok: true, fields: f };
}

/** A wire line back as an event (for tests and tools that look into the stream). */
export function decodeEvent(line: string): AccessEvent {
  const c = checkLine(line);
  if (!c.ok) throw new Error(`not an event line: ${c.error}`);
  const f = c.fields;
  const s = (k: WireColumn) => unescapeTsv(f[COL[k]]!);
  const n = (k: WireColumn) => Number(f[COL[k]]);
  const e: AccessEvent = {
    ts: f[COL.ts]!, event_id: f[COL.event_id]!, user_pseudonym: s('user_pseudonym'), user_group: s('user_group'),
    client_pseudonym: s('client_pseudonym'), method: s('method'), scheme: s('scheme'), host: s('host'), port: n('port'),
    path: s('path'), status: n('status'), bytes_up: n('bytes_up'), bytes_down: n('bytes_down'), duration_ms: n('duration_ms'),
    content_type: s('content_type'), filename: s('filename'), category: s('category'), action: s('action'), rule: s('rule'),
    flags: parseFlags(f[COL.flags]!), source: s('source'),
  };
  if (f[COL.query]) e.query = s('query');
  return e;
}
