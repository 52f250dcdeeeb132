import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, DecisionInput, PolicyEngine } from '../../core/policy/types.ts';
import { readSlowly } from '../helpers/slow-reader.ts';
import { rawExchange, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// WebSocket upgrades pass through; policy decisions shape the answer and the event.

/** A real (if tiny) PolicyEngine: blocks one host, counts calls. */
class HostBlocker implements PolicyEngine {
  calls: DecisionInput[] = [];
  constructor(private readonly blocked: string) {}
  decide(input: DecisionInput): Decision {
    this.calls.push(input);
    if (input.host === this.blocked) return { action: 'block', category: 'gambling', rule: 'rule:1', reason: 'Gambling <sites> are never acceptable.' };
    return { action: 'allow', category: '', rule: 'default', reason: '' };
  }
}

let origin: Origin;
let px: TestProxy;
let engine: PolicyEngine;
const blocker = new HostBlocker('localhost');

beforeAll(async () => {
  origin = await startOrigin();
  engine = blocker;
  px = await startProxy({
    yaml: `proxy:\n  allowDestinations: ["127.0.0.1", "localhost"]\n  ipTunnels: allow\nconsole:\n  publicUrl: "https://console.example.org"\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
    engine: () => engine,
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

function wsHandshake(port: number, url: string): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const s = connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no upgrade answer: ${buf}`)); }, 5000);
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      s.off('data', onData);
      resolve({ socket: s, head: buf.slice(0, end) });
    };
    s.on('data', onData);
    s.on('error', reject);
    s.write(`GET ${url} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

describe('WebSocket upgrade over plain HTTP', () => {
  it('passes the handshake and the bytes both ways; one event when it closes', async () => {
    const { socket, head } = await wsHandshake(px.port, `${origin.url}/chat?room=1`);
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    const expected = createHash('sha1').update(Buffer.from('0123456789abcdef').toString('base64') + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    expect(head.toLowerCase()).toContain(`sec-websocket-accept: ${expected.toLowerCase()}`);
    const echoed = await new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= 10) resolve(got);
      });
      socket.write('ping-12345');
    });
    expect(echoed).toBe('ping-12345');
    socket.end();
    const e = await px.find((x) => x.path === '/chat');
    expect(e).toMatchObject({ method: 'GET', status: 101, action: 'allow' });
    expect(e!.bytes_down).toBeGreaterThan(head.length + 10);
  });

  it('a large exchange passes both ways byte for byte while the client reads slowly', async () => {
    // each side's reads are freed once passed on (read-buffers.ts); the client's stops make the
    // proxy's writes back up in both directions
    const { socket, head } = await wsHandshake(px.port, `${origin.url}/bulk`);
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    const data = randomBytes(8 * 2 ** 20);
    const hash = createHash('sha256');
    let n = 0;
    const all = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${n} bytes came back`)), 30_000);
      readSlowly(socket, (d) => {
        hash.update(d);
        n += d.length;
        if (n >= data.length) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    socket.write(data);
    await all;
    socket.end();
    expect(n).toBe(data.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });
});

describe('policy decisions', () => {
  it('decide() is called once per request with the user, group and path (no query)', async () => {
    blocker.calls = [];
    await rawExchange(px.port, `GET ${origin.url}/small?q=secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(blocker.calls).toHaveLength(1);
    expect(blocker.calls[0]).toMatchObject({ user: null, group: 'guests', method: 'GET', scheme: 'http', host: '127.0.0.1', port: origin.port, path: '/small' });
  });

  it('block on plain HTTP: 403 text/html with the escaped clause and the reference; the event names category and rule', async () => {
    const answer = await rawExchange(px.port, `GET http://localhost:${origin.port}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/Content-Type: text\/html/i);
    const e = await px.find((x) => x.action === 'block' && x.method === 'GET');
    expect(e).toMatchObject({ status: 403, category: 'gambling', rule: 'rule:1', host: 'localhost' });
    // the clause is escaped (the staff block page with its console links: test/pages/no-ca.test.ts)
    expect(answer).toContain('Gambling &lt;sites&gt; are never acceptable.');
    expect(answer).toContain(e!.event_id);
  });

  it('a blocked CONNECT without an organisation CA gets 403 with a short page', async () => {
    const answer = await rawExchange(px.port, 'CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 403 [\s\S]*localhost is blocked by the internet policy/);
    const e = await px.find((x) => x.action === 'block' && x.method === 'CONNECT');
    expect(e).toMatchObject({ status: 403, category: 'gambling', rule: 'rule:1', scheme: 'https', port: 443 });
  });

  it('a policy that throws does not stop browsing and is flagged', async () => {
    engine = { decide: () => { throw new Error('broken snapshot'); } };
    try {
      const answer = await rawExchange(px.port, `GET ${origin.url}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      const e = await px.find((x) => x.flags.includes('policy-error'));
      expect(e).toMatchObject({ rule: 'policy-error', action: 'allow' });
    } finally {
      engine = blocker;
    }
  });
});
