import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { inheritTlsListener } from '../tls-listener.ts';
import type { LeafMinter } from '../../core/tls/leaf.ts';

// TLS towards the browser with a leaf certificate for the CONNECT host, signed by the organisation
// CA, after the proxy has answered "200 Connection established". Two callers: a blocked tunnel
// (every request gets the block page, nothing is forwarded; serveBlockOverTls) and an inspected
// one (proxy/tls/inspect.ts: every request goes through the pipeline and on to the origin). Allowed
// tunnels that are not inspected are spliced byte for byte and never reach this module.

export interface TerminateOptions {
  /** the host named in the CONNECT line; the certificate is for it (SNI is ignored on purpose:
   *  the decision was made for the CONNECT host, and a different SNI must not get a page for it) */
  host: string;
  minter: LeafMinter;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** the connection is closed after this long without a byte either way */
  idleMs?: number;
  /** a request must have arrived whole within this (0: no limit, for uploads through an inspected tunnel) */
  requestTimeoutMs?: number;
  /** requests served on one connection before it is closed (0: no limit) */
  maxRequests?: number;
  /** the TLS layer failed; `secured` is false when the handshake never completed */
  onTlsError?: (err: NodeJS.ErrnoException, secured: boolean) => void;
  /** called once when the TLS connection ends, with the bytes read from / written to the client */
  onClose?: (info: { bytesUp: number; bytesDown: number; requests: number; secured: boolean; tlsError?: string }) => void;
}

/** A blocked CONNECT: the page for every request, at most 20 on one connection. */
export function serveBlockOverTls(client: Duplex, head: Buffer | undefined, opts: TerminateOptions): TLSSocket {
  // One page per connection keeps a blocked tunnel from being used as a long-lived channel.
  return terminateTls(client, head, { maxRequests: 20, idleMs: 30_000, requestTimeoutMs: opts.idleMs ?? 30_000, ...opts });
}

export function terminateTls(client: Duplex, head: Buffer | undefined, opts: TerminateOptions): TLSSocket {
  const leaf = opts.minter.leafFor(opts.host);
  if (head && head.length) client.unshift(head);
  const tls = new TLSSocket(client as never, { isServer: true, secureContext: leaf.context, ALPNProtocols: ['http/1.1'] });
  inheritTlsListener(client, tls);
  const idleMs = opts.idleMs ?? 30_000;
  const max = opts.maxRequests ?? 0;
  let requests = 0;
  let secured = false;
  let tlsError: string | undefined;
  const server = createServer({ requestTimeout: opts.requestTimeoutMs ?? 0, headersTimeout: Math.min(idleMs, 60_000) }, (req, res) => {
    requests++;
    if (max > 0) res.shouldKeepAlive = requests < max;
    opts.handler(req, res);
  });
  server.keepAliveTimeout = Math.min(idleMs, 5000);
  server.timeout = idleMs;
  tls.once('secure', () => { secured = true; });
  tls.on('error', (e) => {
    tlsError = (e as Error).message;
    opts.onTlsError?.(e as NodeJS.ErrnoException, secured);
    tls.destroy();
  });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    server.close();
    opts.onClose?.({ bytesUp: tls.bytesRead, bytesDown: tls.bytesWritten, requests, secured, tlsError });
    if (!client.destroyed) client.destroy();
  };
  tls.on('close', finish);
  client.on('close', () => { if (!tls.destroyed) tls.destroy(); });
  server.emit('connection', tls);
  return tls;
}
