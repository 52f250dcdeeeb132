// RFC 9110 §7.6.1: connection-specific headers end at each hop, plus any the Connection header
// names. Proxy-Authorization is the client's credential for this proxy and must never reach a site.
// A client may not use Connection to remove what frames or addresses the message (Host,
// Content-Length): that would let a body become a second request the policy never saw.

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

const NO_EXTRA: ReadonlySet<string> = new Set();

/** End-to-end headers that a Connection token never removes. */
const NEVER_NAMED_AWAY = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'content-range', 'date', 'cache-control', 'authorization']);

export function isHopByHopHeader(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

/** The header names a Connection value asks to drop at this hop (lower case, protected ones left out). */
export function connectionTokens(value: string | string[] | number | undefined): ReadonlySet<string> {
  // nearly every message says only "keep-alive" or "close", or nothing: no set is made for those
  let named: Set<string> | null = null;
  if (value === undefined || value === 'keep-alive' || value === 'close') return NO_EXTRA;
  for (const part of (Array.isArray(value) ? value : [String(value)])) {
    for (const t of part.split(',')) {
      const name = t.trim().toLowerCase();
      if (name && name !== 'close' && name !== 'keep-alive' && !NEVER_NAMED_AWAY.has(name)) (named ??= new Set()).add(name);
    }
  }
  return named ?? NO_EXTRA;
}

/**
 * The request headers to send to the origin, as a flat [name, value, …] list in the client's order
 * and spelling: hop-by-hop and Connection-named headers removed, Host from the request target,
 * framing decided here from what the parser saw (Content-Length, or chunked for a body of unknown
 * length), never copied from the client's text.
 */
export function outgoingRequestHeaders(rawHeaders: string[], host: string, framing: { contentLength: number | null }, drop: ReadonlySet<string> = NO_EXTRA): string[] {
  let connection: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 10 && rawHeaders[i]!.toLowerCase() === 'connection') (connection ??= []).push(rawHeaders[i + 1]!);
  }
  const named = connectionTokens(connection);
  const out: string[] = ['host', host];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || drop.has(lower)) continue;
    if (lower === 'host' || lower === 'content-length' || lower === 'expect') continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  if (framing.contentLength !== null) out.push('content-length', String(framing.contentLength));
  return out;
}

