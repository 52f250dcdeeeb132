import { createLogger } from '../../core/log.ts';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { PageTokens } from '../../core/identity/page-token.ts';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { bindSignIn, signOut } from '../../core/identity/sign-in-binding.ts';
import { StaffPages } from '../../core/pages/index.ts';
import { connectRedis, ManagedRedis } from '../../core/storage/redis.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { SignInGate } from '../../proxy/tls/sign-in-gate.ts';
import { tempDir } from '../helpers/tmp.ts';

// The proxy side of sign-in networks, on real Redis and real sockets: a listener that answers the
// way the proxy does for an unidentified client on a sign-in network.

const tmp = tempDir();
const config = parseConfig('identity: { signInNetworks: [127.0.0.0/8] }', 't.yaml');
const pseudonyms = new Pseudonymiser(Buffer.alloc(32, 3));
const tokens = new PageTokens(Buffer.alloc(32, 4));
const pages = new StaffPages(config, tokens, 'http://console.test:8080');
const ca = createCa(tmp.dir, { organisation: 'Gate Trust' });
let server: ManagedRedis;
let redis: Redis;
let gate: SignInGate;
let proxy: Server;
let port = 0;

beforeAll(async () => {
  server = await ManagedRedis.start(tmp.dir);
  redis = connectRedis(server.url, createLogger('test'));
  gate = new SignInGate(redis, pseudonyms, config.identity.signInNetworks, 50);
  proxy = createServer(async (req, res) => {
    const ip = req.socket.remoteAddress ?? '';
    const who = await gate.identify(ip);
    if (who) return void res.end(`browsing as ${who.user} (${who.group})`);
    gate.answerHttp(res, pages, { eventId: 'ev-http', url: req.url ?? '', at: new Date() }, ip);
  });
  proxy.on('connect', (req, socket, head) => {
    const [host] = (req.url ?? '').split(':');
    gate.answerConnect(socket, head, pages, { eventId: 'ev-tls', host: host!, at: new Date() }, req.socket.remoteAddress ?? '', req.headers['x-no-ca'] ? null : new LeafMinter(ca));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  port = (proxy.address() as AddressInfo).port;
});

afterAll(async () => {
  proxy?.close();
  redis?.disconnect();
  await server?.stop();
  tmp.cleanup();
});

function get(url: string): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, method: 'GET', path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('sign-in gate at the proxy', () => {
  it('sends an unidentified browser to the console sign-in page with a device token and the way back', async () => {
    expect(gate.covers('127.0.0.1')).toBe(true);
    expect(gate.covers('10.1.2.3')).toBe(false);
    const r = await get('http://news.test/today');
    expect(r.status).toBe(302);
    const loc = new URL(r.location!);
    expect(loc.origin + loc.pathname).toBe('http://console.test:8080/sign-in');
    expect(loc.searchParams.get('return')).toBe('http://news.test/today');
    const claims = tokens.verify(loc.searchParams.get('t')!, { purpose: 'sign-in' });
    expect(claims.pseudonym).toBe(pseudonyms.client('127.0.0.1'));
  });

  it('a signed-in device browses as the person; after sign-out it is sent to sign in again', async () => {
    const client = pseudonyms.client('127.0.0.1');
    await bindSignIn(redis, client, { user: 'carol', group: 'volunteers' }, 1);
    await new Promise((r) => setTimeout(r, 80)); // past the gate's 50 ms cache
    expect((await get('http://news.test/')).body).toBe('browsing as carol (volunteers)');
    await signOut(redis, client);
    await new Promise((r) => setTimeout(r, 80));
    expect((await get('http://news.test/')).status).toBe(302);
  });

  it('HTTPS: the sign-in page over TLS with the CA, a 403 naming the link without one', async () => {
    const page = await new Promise<string>((resolve, reject) => {
      const sock = netConnect(port, '127.0.0.1', () => sock.write('CONNECT mail.test:443 HTTP/1.1\r\nHost: mail.test:443\r\n\r\n'));
      sock.once('data', (d) => {
        expect(d.toString()).toMatch(/^HTTP\/1\.1 200/);
        const t = tlsConnect({ socket: sock, servername: 'mail.test', ca: [ca.certPem] }, () => {
          let body = '';
          t.write('GET /inbox HTTP/1.1\r\nHost: mail.test\r\nConnection: close\r\n\r\n');
          t.on('data', (c) => { body += c; });
          t.on('end', () => resolve(body));
        });
        t.on('error', reject);
      });
      sock.on('error', reject);
    });
    expect(page).toMatch(/^HTTP\/1\.1 403/);
    expect(page).toContain('Please sign in to use the internet');
    expect(page).toContain('https://mail.test/inbox');
    expect(page).toContain('http://console.test:8080/sign-in?t=');
    const refused = await new Promise<string>((resolve, reject) => {
      const sock = netConnect(port, '127.0.0.1', () => sock.write('CONNECT mail.test:443 HTTP/1.1\r\nHost: mail.test:443\r\nX-No-Ca: 1\r\n\r\n'));
      let out = '';
      sock.on('data', (d) => { out += d; });
      sock.on('close', () => resolve(out));
      sock.on('error', reject);
    });
    expect(refused).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(refused).toContain('sign in first: http://console.test:8080/sign-in?t=');
  });
});
