// Turns one stream entry's JSON into a row for `fairwatch.events`, or says exactly which field is
// wrong. Pure. A bad entry must not block the good ones behind it (one poison entry would otherwise
// fail every insert for ever), so the ingester moves it to a dead-letter stream with this message.

export type EventRow = Record<string, string | number | string[]>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const STRINGS = ['user_pseudonym', 'user_group', 'client_pseudonym', 'method', 'scheme', 'host', 'path', 'content_type', 'filename', 'category', 'action', 'rule'] as const;
const UINTS: ReadonlyArray<readonly [string, number]> = [
  ['port', 65535], ['status', 65535], ['bytes_up', Number.MAX_SAFE_INTEGER], ['bytes_down', Number.MAX_SAFE_INTEGER], ['duration_ms', 4294967295],
];

export type Parsed = { ok: true; row: EventRow } | { ok: false; error: string };

export function parseEventRow(json: string | undefined): Parsed {
  if (json === undefined) return { ok: false, error: 'entry has no `e` field' };
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return { ok: false, error: 'not a JSON object' };
  if (typeof o.event_id !== 'string' || !UUID_RE.test(o.event_id)) return { ok: false, error: 'event_id: expected a UUID' };
  if (typeof o.ts !== 'string' || Number.isNaN(Date.parse(o.ts))) return { ok: false, error: 'ts: expected an ISO 8601 time' };
  const row: EventRow = { ts: new Date(o.ts).toISOString(), event_id: o.event_id };
  for (const k of STRINGS) {
    const v = o[k];
    if (v === undefined || v === null) row[k] = '';
    else if (typeof v === 'string') row[k] = v;
    else return { ok: false, error: `${k}: expected a string` };
  }
  for (const [k, max] of UINTS) {
    const v = o[k];
    if (v === undefined || v === null) row[k] = 0;
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) row[k] = v;
    else return { ok: false, error: `${k}: expected a whole number from 0 to ${max}` };
  }
  if (o.query !== undefined && o.query !== null) {
    if (typeof o.query !== 'string') return { ok: false, error: 'query: expected a string' };
    row.query = o.query;
  }
  const flags = o.flags ?? [];
  if (!Array.isArray(flags) || flags.some((f) => typeof f !== 'string')) return { ok: false, error: 'flags: expected a list of strings' };
  row.flags = flags as string[];
  const source = o.source ?? 'proxy';
  if (typeof source !== 'string') return { ok: false, error: 'source: expected a string' };
  row.source = source;
  return { ok: true, row };
}
