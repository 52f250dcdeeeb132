// A local origin for proxy benchmarks, in its own process so it does not share the event loop of
// what is measured. GET /1k → 1 KiB; GET /bytes?n=N → N bytes streamed. Prints "port N" when ready;
// with ORIGIN_TLS_CERT and ORIGIN_TLS_KEY (PEM files) it also serves the same over HTTPS, as
// "port N tls M": what a browser fetches through CONNECT is nearly always TLS.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

const KB = Buffer.alloc(1024, 'a');
const BLOCK = Buffer.alloc(256 * 1024, 7);
const handler = (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/1k') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': KB.length });
    res.end(KB);
    return;
  }
  if (url.pathname === '/bytes') {
    const size = Number(url.searchParams.get('n') ?? 0);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(BLOCK.length, size - sent);
        sent += n;
        if (!res.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  res.writeHead(404).end();
};
const server = createServer(handler);
server.keepAliveTimeout = 30_000;
const { ORIGIN_TLS_CERT: cert, ORIGIN_TLS_KEY: key } = process.env;
const tls = cert && key ? createTlsServer({ cert: readFileSync(cert), key: readFileSync(key) }, handler) : null;
const listening = (s) => new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s.address().port)));
const port = await listening(server);
const tlsPort = tls ? await listening(tls) : null;
process.stdout.write(`port ${port}${tlsPort ? ` tls ${tlsPort}` : ''}\n`);
process.on('SIGTERM', () => process.exit(0));
