// A local origin for proxy benchmarks, in its own process so it does not share the event loop of
// what is measured. GET /1k → 1 KiB; GET /bytes?n=N → N bytes streamed. Prints "port N" when ready.
import { createServer } from 'node:http';

const KB = Buffer.alloc(1024, 'a');
const BLOCK = Buffer.alloc(256 * 1024, 7);
const server = createServer((req, res) => {
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
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
