import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitForPing } from '../../core/storage/redis.ts';
import { startProxy, type TestProxy } from './harness.ts';

// Request smuggling, run differentially: the same bytes go to the proxy, and what the proxy
// recorded (its events) is compared with what a logging origin parsed (Node's own HTTP parser, as
// a site would). Whatever the framing tricks, either the proxy refuses the message (4xx/5xx, and
// the origin sees nothing) or the origin sees exactly the requests the proxy decided on, with the
// same method, path and body. A body never becomes a second request.

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  bodyLength: number;
  bodySha: string;
}

let origin: Server;
let originPort: number;
const seen: Seen[] = [];
let px: TestProxy;

beforeAll(async () => {
  origin = createServer({ keepAliveTimeout: 10_000 }, (req: IncomingMessage, res) => {
    const hash = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => { hash.update(c); n += c.length; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host, bodyLength: n, bodySha: hash.digest('hex') });
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
      res.end('ok');
    });
  });
  originPort = await new Promise<number>((r) => origin.listen(0, '127.0.0.1', () => r((origin.address() as AddressInfo).port)));
  px = await startProxy();
});

afterAll(async () => {
  await px.close();
  origin.closeAllConnections();
  await new Promise((r) => origin.close(r));
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Writes the bytes on one connection (in `parts`, a pause between), collects the answer (bounded). */
function exchange(parts: Array<string | Buffer>, timeoutMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect(px.port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { s.destroy(); resolve(out); }, timeoutMs);
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
    s.on('error', () => {});
    let i = 0;
    const next = () => {
      if (i >= parts.length) return;
      s.write(parts[i++]!);
      setTimeout(next, 30);
    };
    s.once('connect', next);
  });
}

/** Runs one case and returns what the origin saw and what the proxy recorded for it. */
async function differential(parts: Array<string | Buffer>, expectedRequests: number) {
  const seenBefore = seen.length;
  const evBefore = px.sink.events.length;
  const answer = await exchange(parts);
  // events are emitted when each request ends; wait for the ones the answer promises (bounded)
  const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  await px.events(evBefore + Math.max(statuses.length, expectedRequests), 3000);
  const events = px.sink.events.slice(evBefore);
  return { answer, statuses, origin: seen.slice(seenBefore), events };
}

const target = () => `http://127.0.0.1:${originPort}`;
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: evil.example\r\n\r\n';

describe('framing: the body is never a second request', () => {
  it('a chunked POST is forwarded chunked with its body intact, and a second request on the same connection follows it', async () => {
    const body = SMUGGLED;
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const r = await differential([
      `POST ${target()}/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      `GET ${target()}/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ], 2);
    expect(r.statuses).toEqual([200, 200]);
    expect(r.origin.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /upload', 'GET /after']);
    expect(r.origin[0]).toMatchObject({ bodyLength: body.length, bodySha: sha(body) });
    expect(r.events.map((e) => `${e.method} ${e.path}`)).toEqual(['POST /upload', 'GET /after']);
  });

  it.each([
    ['Connection: content-length', (b: string) => `Content-Length: ${b.length}\r\nConnection: content-length`],
    ['Connection: transfer-encoding (chunked)', (_b: string) => `Transfer-Encoding: chunked\r\nConnection: transfer-encoding`],
    ['Connection: host', (b: string) => `Content-Length: ${b.length}\r\nConnection: host`],
    ['Connection: content-length, te', (b: string) => `Content-Length: ${b.length}\r\nConnection: content-length, te\r\nTE: trailers`],
    ['Keep-Alive and Proxy-Connection named', (b: string) => `Content-Length: ${b.length}\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, proxy-connection`],
  ])('%s cannot strip the framing or the Host header', async (_name, headers) => {
    const body = SMUGGLED;
    const framed = headers(body);
    const payload = framed.includes('chunked') ? `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` : body;
    const r = await differential([`POST ${target()}/p HTTP/1.1\r\nHost: x\r\n${framed}\r\n\r\n${payload}`, `GET ${target()}/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 2);
    expect(r.origin.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /p', 'GET /next']);
    expect(r.origin[0]).toMatchObject({ bodyLength: body.length, bodySha: sha(body), host: `127.0.0.1:${originPort}` });
    expect(r.events.map((e) => `${e.method} ${e.path}`)).toEqual(['POST /p', 'GET /next']);
  });

  it('pipelined requests in one write are each decided, recorded and forwarded once, in order', async () => {
    const one = (p: string, close = false) => `GET ${target()}${p} HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
    const r = await differential([one('/a') + one('/b') + one('/c', true)], 3);
    expect(r.statuses).toEqual([200, 200, 200]);
    expect(r.origin.map((s) => s.url)).toEqual(['/a', '/b', '/c']);
    expect(r.events.map((e) => e.path)).toEqual(['/a', '/b', '/c']);
  });

  it('keep-alive reuse towards the origin: a chunked upload then a GET reuse one pooled connection without mixing them', async () => {
    const body = 'x'.repeat(5000) + SMUGGLED;
    const chunks = [body.slice(0, 3000), body.slice(3000)].map((c) => `${c.length.toString(16)};ext=1\r\n${c}\r\n`).join('') + '0\r\nX-Trailer: t\r\n\r\n';
    for (let round = 0; round < 3; round++) {
      const r = await differential([`PUT ${target()}/r${round} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}`], 1);
      expect(r.statuses).toEqual([200]);
      expect(r.origin).toEqual([expect.objectContaining({ method: 'PUT', url: `/r${round}`, bodyLength: body.length, bodySha: sha(body) })]);
    }
    const after = await differential([`GET ${target()}/clean HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 1);
    expect(after.origin.map((s) => s.url)).toEqual(['/clean']);
  });

  // Framing mutations of the kinds public smuggling scanners try (obfuscated Transfer-Encoding,
  // conflicting lengths, bare line feeds, folded headers). Each is refused by the proxy, or
  // forwarded as exactly one request whose body the origin reads as the proxy did.
  const TE_MUTATIONS = [
    'Transfer-Encoding: chunked\r\nContent-Length: 4',
    'Content-Length: 4\r\nTransfer-Encoding: chunked',
    'Transfer-Encoding : chunked',
    'Transfer-Encoding:\tchunked',
    'Transfer-Encoding: xchunked',
    'Transfer-Encoding: chunked, identity',
    'Transfer-Encoding: identity, chunked',
    'Transfer-Encoding: gzip, chunked',
    'Transfer-Encoding: "chunked"',
    'Transfer-Encoding: CHUNKED',
    'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity',
    'Transfer-Encoding: chunked\r\nTransfer-encoding: x',
    'Transfer-Encoding:\r\n chunked',
    'Transfer-Encoding: \x0bchunked',
    'Transfer-Encoding: \x0cchunked',
    'Transfer-Encoding: chunked\x00',
    'Transfer-Encoding\r\n: chunked',
    'X: y\nTransfer-Encoding: chunked',
    'Transfer_Encoding: chunked',
    ' Transfer-Encoding: chunked',
    'Content-Length: 4\r\nContent-Length: 5',
    'Content-Length: 4, 5',
    'Content-Length: +4',
    'Content-Length: 0x4',
    'Content-Length: 4 4',
    'Content-Length:\r\n 4',
  ];

  it.each(TE_MUTATIONS.map((m) => [JSON.stringify(m), m]))('mutation %s: refused, or one request the origin reads as the proxy did', async (_label, mutation) => {
    const body = `4\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`;
    const r = await differential([`POST ${target()}/m HTTP/1.1\r\nHost: x\r\n${mutation}\r\nConnection: close\r\n\r\n${body}`], 1);
    expect(r.origin.some((s) => s.url === '/smuggled' || s.host === 'evil.example')).toBe(false);
    const forwarded = r.origin.filter((s) => s.url === '/m');
    if (forwarded.length === 0) {
      // refused by the proxy: an error answer and nothing at the origin
      expect(r.statuses[0] ?? 0).toBeGreaterThanOrEqual(400);
      expect(r.origin).toEqual([]);
    } else {
      expect(forwarded).toHaveLength(1);
      expect(r.statuses[0]).toBe(200);
      const ev = r.events.find((e) => e.path === '/m');
      expect(ev).toBeDefined();
      // what the proxy counted as the request body is what the origin received
      expect(ev!.bytes_up).toBeGreaterThanOrEqual(forwarded[0]!.bodyLength);
    }
    expect(r.events.filter((e) => e.path === '/smuggled')).toEqual([]);
  });

  // The default mutation set of defparam/smuggler (a public request-smuggling scanner): a
  // Transfer-Encoding "gadget" beside a Content-Length, with control and high bytes before, inside
  // and after the header name and value. Generated here from its published description.
  const SMUGGLER_DEFAULT: Array<[string, string]> = [
    ['nameprefix1', ' Transfer-Encoding: chunked'],
    ['tabprefix1', 'Transfer-Encoding:\tchunked'],
    ['tabprefix2', 'Transfer-Encoding\t:\tchunked'],
    ['space1', 'Transfer-Encoding : chunked'],
  ];
  for (const i of [0x1, 0x4, 0x8, 0x9, 0xa, 0xb, 0xc, 0xd, 0x1f, 0x20, 0x7f, 0xa0, 0xff]) {
    const c = String.fromCharCode(i);
    const h = i.toString(16).padStart(2, '0');
    SMUGGLER_DEFAULT.push(
      [`midspace-${h}`, `Transfer-Encoding:${c}chunked`], [`postspace-${h}`, `Transfer-Encoding${c}: chunked`],
      [`prespace-${h}`, `${c}Transfer-Encoding: chunked`], [`endspace-${h}`, `Transfer-Encoding: chunked${c}`],
      [`xprespace-${h}`, `X: X${c}Transfer-Encoding: chunked`], [`endspacex-${h}`, `Transfer-Encoding: chunked${c}X: X`],
      [`rxprespace-${h}`, `X: X\r${c}Transfer-Encoding: chunked`], [`xnprespace-${h}`, `X: X${c}\nTransfer-Encoding: chunked`],
      [`endspacerx-${h}`, `Transfer-Encoding: chunked\r${c}X: X`], [`endspacexn-${h}`, `Transfer-Encoding: chunked${c}\nX: X`],
    );
  }

  it.each(SMUGGLER_DEFAULT)('smuggler mutation %s: refused, or one request the origin reads as the proxy did', async (name, gadget) => {
    // a CL.TE probe: the body is a complete chunked message followed by a request of its own
    const body = `0\r\n\r\n${SMUGGLED}`;
    const head = `POST ${target()}/s?cb=${name} HTTP/1.1\r\n${gadget}\r\nHost: x\r\nContent-type: application/x-www-form-urlencoded; charset=UTF-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const r = await differential([Buffer.from(head + body, 'latin1')], 1);
    expect(r.origin.some((x) => x.url === '/smuggled' || x.host === 'evil.example')).toBe(false);
    const forwarded = r.origin.filter((x) => x.url.startsWith('/s?'));
    expect(forwarded.length).toBeLessThanOrEqual(1);
    if (forwarded.length === 0) expect(r.statuses[0] ?? 400).toBeGreaterThanOrEqual(400);
    else {
      // forwarded: the origin received the body the proxy framed, every byte of it, as one request
      const ev = r.events.find((e) => e.path === '/s');
      expect(ev).toBeDefined();
      expect([0, body.length]).toContain(forwarded[0]!.bodyLength);
    }
    expect(r.events.filter((e) => e.path === '/smuggled')).toEqual([]);
  });
});

describe('protocol confusion against a local service on allowDestinations', () => {
  let redis: ChildProcess;
  let port: number;
  let client: Redis;

  beforeAll(async () => {
    port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitForPing(port);
    client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 2 });
    await client.connect();
  });

  afterAll(async () => {
    client.disconnect();
    redis.kill('SIGKILL');
  });

  it.each([
    // Redis closes a connection on a line starting "POST" or "Host:"; a GET or PUT without Host
    // would be read line by line as commands, the body's among them
    ['a GET body of Redis commands with Connection: host', (cmd: string) => `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\nConnection: host\r\nContent-Length: ${cmd.length}\r\n\r\n${cmd}`],
    ['a PUT body of Redis commands with Connection: host', (cmd: string) => `PUT http://127.0.0.1:${port}/ HTTP/1.1\r\nConnection: host\r\nContent-Length: ${cmd.length}\r\n\r\n${cmd}`],
    ['a chunked body with Connection: host, transfer-encoding', (cmd: string) => `PUT http://127.0.0.1:${port}/ HTTP/1.1\r\nConnection: host, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${cmd.length.toString(16)}\r\n${cmd}\r\n0\r\n\r\n`],
    ['commands in the path', () => `GET http://127.0.0.1:${port}/%0d%0aSET%20fw:pwned%201%0d%0a HTTP/1.1\r\nConnection: host\r\n\r\n`],
  ])('%s never writes into Redis (every forwarded request carries Host, which Redis refuses)', async (_name, build) => {
    const cmd = 'SET fw:pwned 1\r\nQUIT\r\n';
    await exchange([build(cmd)]);
    expect(await client.get('fw:pwned')).toBeNull();
    expect(await client.ping()).toBe('PONG');
  });

  it('a port scan through the proxy is slowed to a stop and every closed port reads the same', async () => {
    const closed: number[] = [];
    for (let i = 0; closed.length < 25 && i < 200; i++) {
      const p = await freePort();
      if (!closed.includes(p)) closed.push(p);
    }
    const answers: string[] = [];
    for (const p of closed) {
      const a = await exchange([`GET http://127.0.0.1:${p}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
      answers.push(a.split('\r\n')[0]!);
    }
    // the first ones are "could not be reached" (502), then the client is refused outright (403)
    expect(answers.slice(0, 19).every((a) => a.startsWith('HTTP/1.1 502'))).toBe(true);
    expect(answers.slice(20).every((a) => a.startsWith('HTTP/1.1 403'))).toBe(true);
    const refused = await px.find((e) => e.rule === 'port-scan');
    expect(refused?.flags).toContain('port-scan');
    // during the cool-down even an open non-web port is refused for that client
    const open = await exchange([`GET ${target()}/still HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
    expect(open).toMatch(/^HTTP\/1\.1 403 /);
  });
});
