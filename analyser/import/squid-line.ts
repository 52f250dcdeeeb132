// Parses one line of a Squid access log: the native format
//   time elapsed client code/status bytes method URL user hierarchy/peer type
// or the common / combined formats
//   client ident user [dd/Mon/yyyy:HH:MM:SS +zzzz] "METHOD URL HTTP/x" status bytes ["referer" "agent"] [squid-status]
// Pure: text in, a parsed request or a reason out.

export interface SquidRequest {
  ts: number;
  elapsedMs: number;
  client: string;
  /** '' when the log has none ('-') */
  user: string;
  squidCode: string;
  status: number;
  bytes: number;
  method: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  query: string;
  contentType: string;
}

export type ParseResult = { ok: true; req: SquidRequest } | { ok: false; reason: string };

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const COMMON = /^(\S+) (\S+) (\S+) \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\] "(\S+) (\S+)(?: [^"]*)?" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(?: (\S+))?\s*$/;

function user(raw: string): string {
  if (raw === '-' || raw === '') return '';
  if (raw.indexOf('%') < 0) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Splits a logged URL (absolute, or host:port for CONNECT) into its parts. */
function target(method: string, url: string): Pick<SquidRequest, 'scheme' | 'host' | 'port' | 'path' | 'query'> | string {
  if (method === 'CONNECT') {
    const m = CONNECT_TARGET.exec(url);
    if (!m) return `CONNECT target "${url}" is not host:port`;
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return `CONNECT port ${m[2]} out of range`;
    return { scheme: 'https', host: m[1]!.toLowerCase(), port, path: '', query: '' };
  }
  const m = URL_RE.exec(url);
  if (!m) return `URL "${url.slice(0, 80)}" is not an absolute http(s) URL`;
  const scheme = m[1]!.toLowerCase() as 'http' | 'https';
  const port = m[3] ? Number(m[3]) : scheme === 'https' ? 443 : 80;
  if (port < 1 || port > 65535) return `port ${m[3]} out of range`;
  const rawHost = m[2]!;
  // brackets only around an IPv6 literal: most hosts need no replace
  const host = (rawHost.charCodeAt(0) === 91 ? rawHost.replace(/^\[|\]$/g, '') : rawHost).toLowerCase();
  return { scheme, host, port, path: m[4] || '/', query: m[5] ?? '' };
}

const EPOCH = /^\d{9,11}(\.\d{1,3})?$/;
const DIGITS = /^\d+$/;
const METHOD = /^[A-Z_]+$/;
const CONNECT_TARGET = /^\[?([^\]]+?)\]?:(\d{1,5})$/;
const URL_RE = /^(https?):\/\/([^/?#:\s]+|\[[^\]]+\])(?::(\d{1,5}))?([^?#\s]*)(?:\?([^#\s]*))?/i;

/** Splits on runs of spaces and tabs (hot path: cheaper than a regex split). */
function fields(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && text.charCodeAt(i) !== 32 && text.charCodeAt(i) !== 9) i++;
    out.push(text.slice(start, i));
  }
  return out;
}

export function parseSquidLine(line: string): ParseResult {
  // native lines start with the epoch time (digits and a dot); common ones with the client address
  const f = fields(line);
  if (f.length === 0) return { ok: false, reason: 'empty line' };
  if (EPOCH.test(f[0]!)) {
    if (f.length < 10) return { ok: false, reason: `native format needs 10 fields, found ${f.length}` };
    const [time, elapsed, client, codeStatus, bytes, method, url, rfc931, , type] = f as [string, string, string, string, string, string, string, string, string, string];
    const slash = codeStatus.indexOf('/');
    if (slash < 1) return { ok: false, reason: `result code "${codeStatus}" is not CODE/STATUS` };
    const status = Number(codeStatus.slice(slash + 1));
    if (!Number.isInteger(status) || status < 0 || status > 999) return { ok: false, reason: `status "${codeStatus.slice(slash + 1)}" is not a number` };
    if (!DIGITS.test(elapsed)) return { ok: false, reason: `elapsed "${elapsed}" is not a number of milliseconds` };
    if (!DIGITS.test(bytes)) return { ok: false, reason: `bytes "${bytes}" is not a number` };
    if (!METHOD.test(method)) return { ok: false, reason: `method "${method}" is not an HTTP method` };
    const t = target(method, url);
    if (typeof t === 'string') return { ok: false, reason: t };
    return {
      ok: true,
      req: {
        ts: Math.round(Number(time) * 1000), elapsedMs: Number(elapsed), client, user: user(rfc931), squidCode: codeStatus.slice(0, slash),
        status, bytes: Number(bytes), method, scheme: t.scheme, host: t.host, port: t.port, path: t.path, query: t.query, contentType: type === '-' ? '' : type,
      },
    };
  }
  const m = COMMON.exec(line.trim());
  if (!m) return { ok: false, reason: 'neither Squid native nor common/combined log format' };
  const month = MONTHS[m[5]!];
  if (month === undefined) return { ok: false, reason: `month "${m[5]}" not recognised` };
  const offsetMin = (Number(m[11]) * 60 + Number(m[12])) * (m[10] === '-' ? -1 : 1);
  const ts = Date.UTC(Number(m[6]), month, Number(m[4]), Number(m[7]), Number(m[8]), Number(m[9])) - offsetMin * 60_000;
  if (Number.isNaN(ts)) return { ok: false, reason: 'date not valid' };
  const method = m[13]!;
  const t = target(method, m[14]!);
  if (typeof t === 'string') return { ok: false, reason: t };
  const squidStatus = m[19] ?? '';
  return {
    ok: true,
    req: {
      ts, elapsedMs: 0, client: m[1]!, user: user(m[3]!), squidCode: squidStatus.split(':')[0] ?? '', status: Number(m[15]),
      bytes: m[16] === '-' ? 0 : Number(m[16]), method, ...t, contentType: '',
    },
  };
}
