import { blockOnlyHooks } from '../helpers/block-hooks.ts';
import { readSlowly } from '../helpers/slow-reader.ts';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import forge from 'node-forge';
import { parseConfig } from '../../core/config/load.ts';
import type { Config } from '../../core/config/schema.ts';
import { MemorySink, type AccessEvent } from '../../core/events/event.ts';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { allowAll, type PolicyEngine } from '../../core/policy/types.ts';
import { CredentialStore, type AuthLimits, type CredentialRecord } from '../../proxy/credentials.ts';
import type { LookupFn } from '../../proxy/resolve.ts';
import { createProxyServer, type ProxyServer, type ProxyServerOptions } from '../../proxy/server.ts';

// Local origins and an in-process proxy for the proxy tests. Everything binds 127.0.0.1, and the
// dial guard refuses anything else, so no test can send a packet off this machine.
process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY = '1';

export const KEY = randomBytes(32);
export const pseudonyms = new Pseudonymiser(KEY);

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  track(server);
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

/** 8 MiB of random bytes, served by /random; compare a download's SHA-256 with RANDOM_SHA. */
export const RANDOM = randomBytes(8 * 2 ** 20);
export const RANDOM_SHA = createHash('sha256').update(RANDOM).digest('hex');
/** /random writes in these sizes, in turn: pieces under, at and over a socket read's size */
const RANDOM_PIECES = [70_000, 16_384, 3, 200_000, 65_536, 1, 9_000];

/** 1 KiB of deterministic bytes. */
export const SMALL = Buffer.alloc(1024, 'a');

/** Writes the pieces `next` gives until it gives null, waiting for 'drain' whenever the client is behind. */
function writeAll(res: ServerResponse, next: () => Buffer | null): void {
  const pump = () => {
    for (let piece = next(); piece !== null; piece = next()) {
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function originHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://origin');
  switch (url.pathname) {
    case '/small':
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': SMALL.length });
      res.end(SMALL);
      return;
    case '/page':
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<html><body>hello</body></html>');
      return;
    case '/files/report.pdf':
      res.writeHead(200, { 'Content-Type': 'application/pdf' });
      res.end('%PDF-1.4 fake');
      return;
    case '/attachment':
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment; filename="setup tool.exe"' });
      res.end('MZ');
      return;
    case '/echo': {
      // hashed as it streams, so the origin holds no body in memory; slow=1 stops reading now and
      // then, so the proxy's writes to the origin back up
      const hash = createHash('sha256');
      let length = 0;
      const take = (c: Buffer) => {
        hash.update(c);
        length += c.length;
      };
      if (url.searchParams.get('slow') === '1') readSlowly(req, take);
      else req.on('data', take);
      req.on('end', () => {
        const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: length, bodySha: hash.digest('hex') });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Keep-Alive': 'timeout=5', 'X-Hop': 'kept', Connection: 'X-Hop-Only, keep-alive', 'X-Hop-Only': 'should-go' });
        res.end(out);
      });
      return;
    }
    case '/download': {
      // streamed without Content-Length being buffered anywhere: size bytes of a repeated 64 KiB block
      const size = Number(url.searchParams.get('size') ?? 0);
      const block = Buffer.alloc(65536, 7);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
      let sent = 0;
      writeAll(res, () => {
        if (sent >= size) return null;
        const n = Math.min(block.length, size - sent);
        sent += n;
        return n === block.length ? block : block.subarray(0, n);
      });
      return;
    }
    case '/random': {
      // RANDOM in pieces of several sizes; framing=chunked sends it without a Content-Length
      const chunked = url.searchParams.get('framing') === 'chunked';
      res.writeHead(200, chunked ? { 'Content-Type': 'application/octet-stream' } : { 'Content-Type': 'application/octet-stream', 'Content-Length': RANDOM.length });
      let at = 0;
      let turn = 0;
      writeAll(res, () => {
        if (at >= RANDOM.length) return null;
        const n = Math.min(RANDOM_PIECES[turn++ % RANDOM_PIECES.length]!, RANDOM.length - at);
        at += n;
        return RANDOM.subarray(at - n, at);
      });
      return;
    }
    case '/never':
      // headers never come: the upstream timeout must answer 504
      return;
    default:
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
  }
}

/** A tiny WebSocket-style upgrade: answers 101 and echoes raw bytes (enough to test pass-through). */
function attachUpgrade(server: Server): void {
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
}

export interface Origin {
  port: number;
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startOrigin(): Promise<Origin> {
  const server = createHttpServer(originHandler);
  attachUpgrade(server);
  const port = await listen(server);
  return { port, url: `http://127.0.0.1:${port}`, server, close: () => closeServer(server) };
}

export function selfSignedCert(host = 'localhost'): { key: string; cert: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const attrs = [{ name: 'commonName', value: host }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: host }, { type: 7, ip: '127.0.0.1' }] }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { key: forge.pki.privateKeyToPem(keys.privateKey), cert: forge.pki.certificateToPem(cert) };
}

export async function startHttpsOrigin(tls = selfSignedCert()): Promise<Origin & { cert: string }> {
  const server = createHttpsServer({ key: tls.key, cert: tls.cert }, originHandler) as unknown as Server;
  const port = await listen(server);
  return { port, url: `https://127.0.0.1:${port}`, server, cert: tls.cert, close: () => closeServer(server) };
}

/** A TCP echo server; half-close aware: it answers "bye" after the client's FIN, then ends. */
export async function startEcho(): Promise<{ port: number; close(): Promise<void>; server: import('node:net').Server }> {
  const { createServer } = await import('node:net');
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('bye'));
    s.on('error', () => s.destroy());
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  return { port, server, close: () => new Promise((r) => server.close(() => r())) };
}

const tracked = new WeakMap<Server, Set<Socket>>();
function track(server: Server): void {
  const set = new Set<Socket>();
  tracked.set(server, set);
  server.on('connection', (s: Socket) => {
    set.add(s);
    s.once('close', () => set.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    set.add(s);
    s.once('close', () => set.delete(s));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // upgraded and tunnelled sockets are not the HTTP server's any more: destroy them too
    for (const s of tracked.get(server) ?? []) s.destroy();
    server.closeAllConnections?.();
  });
}

/**
 * Local origins allowed, and reached by address (proxy.ipTunnels refuses bare IPs by default; the
 * refusal has its own tests in ip-tunnels.test.ts); loopback clients are guests (identification has
 * its own tests).
 */
export const DEFAULT_YAML = 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n';

export interface TestProxy {
  proxy: ProxyServer;
  port: number;
  url: string;
  sink: MemorySink;
  credentials: CredentialStore;
  config: Config;
  close(): Promise<void>;
  /** the events once `n` have been emitted (events are emitted when a request ends) */
  events(n: number, timeoutMs?: number): Promise<AccessEvent[]>;
  /** the first event matching `pred`, waiting for it (bounded) */
  find(pred: (e: AccessEvent) => boolean, timeoutMs?: number): Promise<AccessEvent | undefined>;
}

export async function startProxy(opts: { yaml?: string; lookup?: LookupFn; records?: CredentialRecord[]; engine?: () => PolicyEngine; authCacheMs?: number; authLimits?: Partial<AuthLimits>; signIn?: ProxyServerOptions['signIn'] } = {}): Promise<TestProxy> {
  const config = parseConfig(opts.yaml ?? DEFAULT_YAML, 'test.yaml');
  const sink = new MemorySink();
  const credentials = new CredentialStore(opts.records ?? [], opts.authCacheMs ?? config.identity.authCacheSeconds * 1000, opts.authLimits);
  const proxy = createProxyServer({ hooks: blockOnlyHooks, config, engine: opts.engine ?? (() => allowAll), sink, credentials, pseudonyms, lookup: opts.lookup ?? noDns, signIn: opts.signIn });
  const addr = await proxy.listen(0, '127.0.0.1');
  return {
    proxy, port: addr.port, url: `http://127.0.0.1:${addr.port}`, sink, credentials, config,
    close: () => proxy.close(),
    async events(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (sink.events.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return sink.events.slice();
    },
    async find(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = sink.events.find(pred);
        if (hit || Date.now() > deadline) return hit;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** The default for tests: a name lookup is an error (no test may reach real DNS). */
export const noDns: LookupFn = (hostname, _o, cb) => {
  const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  cb(err, []);
};

/** A lookup that answers from a fixed table (a public-looking name → a private address). */
export function fakeDns(table: Record<string, string>): LookupFn {
  return (hostname, _o, cb) => {
    const ip = table[hostname];
    if (!ip) return noDns(hostname, _o, cb);
    cb(null, [{ address: ip, family: ip.includes(':') ? 6 : 4 }]);
  };
}

/** Sends raw bytes to the proxy and collects everything it answers until it closes (bounded). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { s.destroy(); resolve(out); }, timeoutMs);
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
    s.on('error', () => {});
    s.write(data);
  });
}

export function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}
