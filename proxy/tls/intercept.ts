import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { LeafMinter } from '../../core/tls/leaf.ts';

// A blocked CONNECT with an organisation CA: the proxy has answered "200 Connection established";
// here it speaks TLS to the browser with a leaf certificate for the requested host and answers
// every request on that connection with `handler` (the block page). Nothing is forwarded anywhere.
// Only ever called for blocked tunnels: allowed tunnels are spliced byte for byte and never reach
// this module.

export interface InterceptOptions {
  /** the host named in the CONNECT line; the certificate is for it (SNI is ignored on purpose:
   *  the decision was made for the CONNECT host, and a different SNI must not get a page for it) */
  host: string;
  minter: LeafMinter;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** the connection is closed after this long without a request */
  idleMs?: number;
  /** called once when the TLS connection ends, with the bytes read from / written to the client */
  onClose?: (info: { bytesUp: number; bytesDown: number; requests: number; tlsError?: string }) => void;
}

export function serveBlockOverTls(client: Duplex, head: Buffer | undefined, opts: InterceptOptions): TLSSocket {
  const leaf = opts.minter.leafFor(opts.host);
  if (head && head.length) client.unshift(head);
  const tls = new TLSSocket(client as never, { isServer: true, secureContext: leaf.context, ALPNProtocols: ['http/1.1'] });
  let requests = 0;
  let tlsError: string | undefined;
  const server = createServer({ requestTimeout: opts.idleMs ?? 30_000 }, (req, res) => {
    requests++;
    // One page per connection keeps a blocked tunnel from being used as a long-lived channel.
    res.shouldKeepAlive = requests < 20;
    opts.handler(req, res);
  });
  server.keepAliveTimeout = Math.min(opts.idleMs ?? 30_000, 5000);
  server.timeout = opts.idleMs ?? 30_000;
  tls.on('error', (e) => {
    tlsError = (e as Error).message;
    tls.destroy();
  });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    server.close();
    opts.onClose?.({ bytesUp: tls.bytesRead, bytesDown: tls.bytesWritten, requests, tlsError });
    if (!client.destroyed) client.destroy();
  };
  tls.on('close', finish);
  client.on('close', () => { if (!tls.destroyed) tls.destroy(); });
  server.emit('connection', tls);
  return tls;
}
