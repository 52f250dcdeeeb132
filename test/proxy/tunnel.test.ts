import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSlowly } from '../helpers/slow-reader.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startEcho, startHttpsOrigin, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

const run = promisify(execFile);
const tmp = tempDir('fw-tunnel-');
let https: Origin & { cert: string };
let plain: Origin;
let echo: Awaited<ReturnType<typeof startEcho>>;
let px: TestProxy;
let caFile: string;

beforeAll(async () => {
  https = await startHttpsOrigin();
  plain = await startOrigin();
  echo = await startEcho();
  caFile = join(tmp.dir, 'ca.pem');
  writeFileSync(caFile, https.cert);
  px = await startProxy({
    yaml: `proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${https.port}, ${echo.port}, ${plain.port}]\n  idleTimeoutSeconds: 2\n  upstreamTimeoutSeconds: 1\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
  });
});
afterAll(async () => {
  await px.close();
  await https.close();
  await plain.close();
  await echo.close();
  tmp.cleanup();
});

/** Opens a CONNECT tunnel and resolves with the socket once "200 Connection established" arrived. */
function openTunnel(port: number, authority: string): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no CONNECT answer')); }, 5000);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      s.off('data', onData);
      const head = buf.subarray(0, end).toString();
      if (!/^HTTP\/1\.1 200 /.test(head)) return reject(new Error(head));
      resolve({ socket: s, rest: buf.subarray(end + 4) });
    };
    s.on('data', onData);
    s.on('error', reject);
    s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

describe('CONNECT tunnels', () => {
  it('curl reaches an HTTPS origin (self-signed, real TLS) through CONNECT; one event with both byte counts', async () => {
    const r = await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', px.url, '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `https://127.0.0.1:${https.port}/small?x=1`]);
    expect(r.stdout).toBe('200 1024');
    const e = await px.find((x) => x.method === 'CONNECT' && x.port === https.port);
    expect(e).toMatchObject({ scheme: 'https', host: '127.0.0.1', path: '', status: 200, action: 'allow', rule: 'default', user_group: 'guests' });
    // TLS handshake + request up; handshake + 1 KiB body + headers down
    expect(e!.bytes_up).toBeGreaterThan(300);
    expect(e!.bytes_down).toBeGreaterThan(1024 + 500);
  });

  it('undici ProxyAgent tunnels HTTPS with the origin CA', async () => {
    const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: https.cert } });
    const res = await request(`https://127.0.0.1:${https.port}/small`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect((await res.body.arrayBuffer()).byteLength).toBe(1024);
    await agent.close();
  });

  it('half-close: the client finishes sending and still receives the rest', async () => {
    const { socket, rest } = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    let got = rest.toString();
    const done = new Promise<void>((resolve) => socket.on('end', () => resolve()));
    socket.on('data', (d: Buffer) => { got += d.toString(); });
    socket.write('hello ');
    socket.end('world');
    await done;
    // the echo server answers "bye" only after it saw our FIN through the tunnel
    expect(got).toBe('hello worldbye');
    socket.destroy();
    const e = await px.find((x) => x.method === 'CONNECT' && x.port === echo.port);
    expect(e).toMatchObject({ status: 200 });
    expect(e!.bytes_down).toBe('HTTP/1.1 200 Connection established\r\n\r\n'.length + 'hello worldbye'.length);
    expect(e!.bytes_up).toBe(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\n`.length + 'hello world'.length);
  });

  it('a large body through a tunnel arrives byte for byte when the client reads slowly (the relay waits for it)', async () => {
    // 24 MB of random bytes, sent by the origin as fast as it can; the client pauses now and then,
    // so the proxy's writes to it back up and the relay must stop reading until they drain
    const body = randomBytes(24 * 1024 * 1024);
    const server = createNetServer((s) => { s.on('error', () => s.destroy()); s.end(body); });
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
    const slow = await startProxy({
      yaml: `proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${port}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
    });
    try {
      const { socket, rest } = await openTunnel(slow.port, `127.0.0.1:${port}`);
      const hash = createHash('sha256').update(rest);
      let n = rest.length;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${n} bytes arrived`)), 60_000);
        readSlowly(socket, (d) => {
          hash.update(d);
          n += d.length;
        });
        socket.on('end', () => { clearTimeout(timer); resolve(); });
      });
      socket.destroy();
      expect(n).toBe(body.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
      const e = await slow.find((x) => x.method === 'CONNECT' && x.port === port);
      expect(e!.bytes_down).toBe('HTTP/1.1 200 Connection established\r\n\r\n'.length + body.length);
    } finally {
      await slow.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('a large upload through a tunnel arrives byte for byte when the origin reads slowly, and the reply still comes back', async () => {
    // the client sends 24 MB of random bytes as fast as it can and then its FIN; the origin pauses
    // now and then, so the proxy's writes to it back up, and answers with the hash once it has all
    const body = randomBytes(24 * 1024 * 1024);
    const server = createNetServer((s) => {
      s.on('error', () => s.destroy());
      const hash = createHash('sha256');
      let n = 0;
      readSlowly(s, (d) => {
        hash.update(d);
        n += d.length;
      });
      s.on('end', () => s.end(`${n} ${hash.digest('hex')}`));
    });
    server.listen(0, '127.0.0.1');
    const port = await new Promise<number>((r) => server.once('listening', () => r((server.address() as AddressInfo).port)));
    const slow = await startProxy({
      yaml: `proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${port}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
    });
    try {
      const { socket, rest } = await openTunnel(slow.port, `127.0.0.1:${port}`);
      let reply = rest.toString();
      const ended = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply (so far "${reply}")`)), 60_000);
        socket.on('data', (d: Buffer) => { reply += d.toString(); });
        socket.on('end', () => { clearTimeout(timer); resolve(); });
      });
      // written in pieces of several sizes, as a browser's TLS records would come
      for (let at = 0, i = 0; at < body.length; i++) {
        const n = [100_000, 16_384, 7, 65_536, 300_000][i % 5]!;
        socket.write(body.subarray(at, at + n));
        at += n;
      }
      socket.end();
      await ended;
      socket.destroy();
      expect(reply).toBe(`${body.length} ${createHash('sha256').update(body).digest('hex')}`);
      const e = await slow.find((x) => x.method === 'CONNECT' && x.port === port);
      expect(e!.bytes_up).toBe(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`.length + body.length);
    } finally {
      await slow.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('a server that speaks first: its greeting reaches the client after "200 Connection established", not before', async () => {
    const server = createNetServer((s) => { s.on('error', () => s.destroy()); s.write('220 hello from the origin\r\n'); s.on('data', (d) => s.end(`got ${d.toString()}`)); });
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
    const first = await startProxy({
      yaml: `proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${port}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
    });
    try {
      const { socket, rest } = await openTunnel(first.port, `127.0.0.1:${port}`);
      let got = rest.toString();
      socket.on('data', (d: Buffer) => { got += d.toString(); });
      const ended = new Promise<void>((r) => socket.on('end', () => r()));
      await new Promise((r) => setTimeout(r, 200));
      socket.write('QUIT');
      await ended;
      socket.destroy();
      expect(got).toBe('220 hello from the origin\r\ngot QUIT');
    } finally {
      await first.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('an idle tunnel is closed after proxy.idleTimeoutSeconds and recorded', async () => {
    const before = px.sink.events.length;
    const { socket } = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    // the proxy ends the idle tunnel: the client sees the end of the stream (bounded wait)
    const closed = new Promise<void>((resolve, reject) => {
      socket.on('end', () => resolve());
      setTimeout(() => reject(new Error('idle tunnel still open after 10 s')), 10_000);
    });
    socket.on('error', () => {});
    socket.resume();
    await closed;
    const e = await px.find((x, i = px.sink.events.indexOf(x)) => i >= before && x.flags.includes('idle-timeout'));
    expect(e).toMatchObject({ method: 'CONNECT', status: 200 });
  });

  it('a tunnel to a port outside proxy.connectPorts is refused before any connection is made', async () => {
    const gone = await startEcho();
    await gone.close();
    const r = await new Promise<string>((resolve) => {
      const s = connect(px.port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => { out += d; });
      s.on('close', () => resolve(out));
      s.write(`CONNECT 127.0.0.1:${gone.port} HTTP/1.1\r\n\r\n`);
    });
    // the port is not in connectPorts: refused before any dial
    expect(r).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('upstream timeout: a site that never answers gets 504 after proxy.upstreamTimeoutSeconds', async () => {
    const r = await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', px.url, '-w', '\n%{http_code}', `${plain.url}/never`]).catch((e) => e as { stdout: string });
    expect(r.stdout).toMatch(/took too long[\s\S]*\n504$/);
    const e = await px.find((x) => x.path === '/never');
    expect(e).toMatchObject({ status: 504 });
    expect(e!.flags).toContain('upstream-timeout');
  });

  it('upstream unreachable on a plain request gives 502 naming the cause', async () => {
    const gone = await startOrigin();
    await gone.close();
    const r = await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', px.url, '-w', '\n%{http_code}', `http://127.0.0.1:${gone.port}/`]).catch((e) => e as { stdout: string });
    expect(r.stdout).toMatch(/could not be reached[\s\S]*\n502$/);
  });
});

describe('CONNECT to an unreachable target', () => {
  it('gets 502 with a readable page and an event', async () => {
    const gone = await startEcho();
    const port = gone.port;
    await gone.close();
    const px2 = await startProxy({ yaml: `proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${port}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n` });
    try {
      const r = await new Promise<string>((resolve) => {
        const s = connect(px2.port, '127.0.0.1');
        let out = '';
        s.on('data', (d) => { out += d; });
        s.on('close', () => resolve(out));
        s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
      });
      expect(r).toMatch(/^HTTP\/1\.1 502 [\s\S]*could not be reached/);
      const e = await px2.find((x) => x.method === 'CONNECT');
      expect(e).toMatchObject({ status: 502 });
      expect(e!.flags).toContain('upstream-unreachable');
    } finally {
      await px2.close();
    }
  });
});
