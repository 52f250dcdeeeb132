import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

// RFC 9110 §7.6.1: connection-specific headers end at each hop, plus any the Connection header
// names. Proxy-Authorization is the client's credential for this proxy and must never reach a site.

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

export function isHopByHopHeader(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

/** Removes hop-by-hop headers in place; `keepUpgrade` leaves Connection/Upgrade for a WebSocket handshake. */
export function stripHopByHop(headers: IncomingHttpHeaders | OutgoingHttpHeaders, keepUpgrade = false): void {
  const connection = headers.connection;
  const named = typeof connection === 'string' ? connection.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : [];
  for (const name of named) {
    if (keepUpgrade && name === 'upgrade') continue;
    if (name !== 'close' && name !== 'keep-alive') delete headers[name];
  }
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) continue;
    delete headers[name];
  }
  if (keepUpgrade) headers.connection = 'Upgrade';
}

/** The same on an outgoing request whose headers are already set (http-proxy copies them all). */
export function stripHopByHopOutgoing(req: { getHeader(n: string): unknown; removeHeader(n: string): void; getHeaderNames(): string[] }): void {
  const connection = req.getHeader('connection');
  const named = typeof connection === 'string' ? connection.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : [];
  for (const name of req.getHeaderNames()) {
    if (HOP_BY_HOP.has(name) || named.includes(name)) req.removeHeader(name);
  }
}
