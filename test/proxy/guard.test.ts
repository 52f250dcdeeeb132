import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationGuard, isSpecialAddress } from '../../proxy/destination-guard.ts';
import { dial } from '../../proxy/dial.ts';
import { fakeDns, rawExchange, startEcho, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// Not an open proxy: SSRF attempts, the proxy's own port, the console port, CONNECT ports, client
// networks. FAIRWATCH_DIAL_LOOPBACK_ONLY=1 (harness) means even a broken guard could not reach the
// network from here: the assertions below check the guard answered, not the dialler.

let origin: Origin;
let strict: TestProxy; // no allow list: loopback refused
let open: TestProxy; // 127.0.0.1 allowed, as the other tests configure it
let consoleServer: Server;
let consolePort: number;
let echo: Awaited<ReturnType<typeof startEcho>>;

const dns = fakeDns({ 'intranet.example.com': '10.0.0.5', 'sneaky.example.com': '127.0.0.1', 'allowed.example.com': '127.0.0.1' });

beforeAll(async () => {
  origin = await startOrigin();
  echo = await startEcho();
  consoleServer = createServer((_q, r) => r.end('console'));
  consolePort = await new Promise<number>((res) => consoleServer.listen(0, '127.0.0.1', () => res((consoleServer.address() as AddressInfo).port)));
  strict = await startProxy({ yaml: 'identity:\n  guestNetworks: ["127.0.0.0/8"]\n', lookup: dns });
  open = await startProxy({
    yaml: `proxy:\n  allowDestinations: ["127.0.0.1", "allowed.example.com"]\n  connectPorts: [443, ${echo.port}]\nconsole:\n  port: ${consolePort}\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
    lookup: dns,
  });
});
afterAll(async () => {
  await strict.close();
  await open.close();
  await origin.close();
  await echo.close();
  consoleServer.close();
});

function get(px: TestProxy, url: string): Promise<string> {
  return rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
}

describe('destination guard (pure)', () => {
  it.each([
    ['127.0.0.1', true], ['10.0.0.1', true], ['172.16.5.4', true], ['192.168.1.1', true], ['169.254.169.254', true],
    ['100.64.0.1', true], ['0.0.0.0', true], ['::1', true], ['fe80::1', true], ['fd00:ec2::254', true], ['::ffff:10.0.0.1', true],
    ['224.0.0.1', true], ['255.255.255.255', true], ['93.184.216.34', false], ['2606:4700::1111', false], ['8.8.8.8', false],
  ])('%s special=%s', (ip, special) => {
    expect(isSpecialAddress(ip)).toBe(special);
  });

  it('allows by CIDR or host name, never the proxy or console port on this machine', () => {
    const g = new DestinationGuard({ allowDestinations: ['10.1.0.0/16', 'intranet.local', '127.0.0.1'], selfPorts: [3128, 8080], selfAddresses: ['192.168.1.10'] });
    expect(g.check('10.1.2.3', 80, ['10.1.2.3']).ok).toBe(true);
    expect(g.check('10.2.0.1', 80, ['10.2.0.1']).ok).toBe(false);
    expect(g.check('intranet.local', 80, ['10.9.9.9']).ok).toBe(true);
    expect(g.check('127.0.0.1', 8000, ['127.0.0.1']).ok).toBe(true);
    expect(g.check('127.0.0.1', 3128, ['127.0.0.1']).ok).toBe(false);
    expect(g.check('127.0.0.1', 8080, ['127.0.0.1']).ok).toBe(false);
    expect(g.check('192.168.1.10', 3128, ['192.168.1.10']).ok).toBe(false);
    // a name with one bad address among good ones is refused
    expect(g.check('mixed.example', 80, ['93.184.216.34', '10.0.0.1']).ok).toBe(false);
    expect(g.check('public.example', 80, ['93.184.216.34']).ok).toBe(true);
  });

  it('dial refuses non-loopback addresses under FAIRWATCH_DIAL_LOOPBACK_ONLY and host names always', () => {
    expect(() => dial('10.0.0.1', 80)).toThrow(/FAIRWATCH_DIAL_LOOPBACK_ONLY/);
    expect(() => dial('example.com', 80)).toThrow(/needs an IP address/);
  });
});

describe('SSRF attempts through the proxy', () => {
  it.each([
    ['127.0.0.1', (o: Origin) => `http://127.0.0.1:${o.port}/small`],
    ['10.0.0.1', () => 'http://10.0.0.1/'],
    ['[::1]', (o: Origin) => `http://[::1]:${o.port}/`],
    ['169.254.169.254 (metadata)', () => 'http://169.254.169.254/latest/meta-data/'],
    ['decimal 2130706433', (o: Origin) => `http://2130706433:${o.port}/small`],
    ['a public name resolving to 127.0.0.1', (o: Origin) => `http://sneaky.example.com:${o.port}/small`],
    ['a public name resolving to 10.0.0.5', () => 'http://intranet.example.com/'],
  ])('plain HTTP to %s is refused with 403 and an event', async (_label, url) => {
    const before = strict.sink.events.length;
    const answer = await get(strict, url(origin));
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/private, loopback, link-local or reserved/);
    const [e] = (await strict.events(before + 1)).slice(before);
    expect(e).toMatchObject({ status: 403, action: 'block', rule: 'destination-guard' });
    expect(e!.flags).toContain('ssrf-refused');
  });

  it.each([
    ['10.0.0.1:443'], ['[::1]:443'], ['169.254.169.254:443'], ['sneaky.example.com:443'], ['intranet.example.com:443'],
  ])('CONNECT to %s is refused with 403', async (authority) => {
    const answer = await rawExchange(strict.port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('the allow list opens 127.0.0.1 and a named host, but never the proxy\'s own port; the console is passed only as itself', async () => {
    expect(await get(open, `${origin.url}/small`)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await get(open, `http://allowed.example.com:${origin.port}/small`)).toMatch(/^HTTP\/1\.1 200 /);
    const self = await get(open, `http://127.0.0.1:${open.port}/small`);
    expect(self).toMatch(/^HTTP\/1\.1 403 [\s\S]*fairwatch itself/);
    const viaLocalhost = await get(open, `http://[::1]:${open.port}/`);
    expect(viaLocalhost).toMatch(/^HTTP\/1\.1 403 /);
    // the console's own address is fairwatch's pages (a browser without a bypass list goes there
    // through the proxy); the same port under another name or address is still refused
    const consolePage = await get(open, `http://127.0.0.1:${consolePort}/`);
    expect(consolePage).toMatch(/^HTTP\/1\.1 200 [\s\S]*console/);
    expect(await get(open, `http://[::1]:${consolePort}/`)).toMatch(/^HTTP\/1\.1 403 /);
    expect(await get(open, `http://allowed.example.com:${consolePort}/`)).toMatch(/^HTTP\/1\.1 403 /);
    const tunnelToConsole = await rawExchange(open.port, `CONNECT 127.0.0.1:${consolePort} HTTP/1.1\r\n\r\n`);
    expect(tunnelToConsole).toMatch(/^HTTP\/1\.1 403 /);
    const tunnelToSelf = await rawExchange(open.port, `CONNECT 127.0.0.1:${open.port} HTTP/1.1\r\n\r\n`);
    expect(tunnelToSelf).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('CONNECT only to configured ports: a refused port gets 403 naming proxy.connectPorts and an event', async () => {
    const answer = await rawExchange(open.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403 [\s\S]*proxy\.connectPorts/);
    const e = await open.find((x) => x.port === origin.port && x.method === 'CONNECT');
    expect(e).toMatchObject({ method: 'CONNECT', status: 403, port: origin.port, action: 'block', rule: 'proxy.connectPorts' });
    expect(e!.flags).toContain('port-refused');
  });

  it('clients outside proxy.clientNetworks get 403 and an event (not an open proxy)', async () => {
    const px = await startProxy({ yaml: 'proxy:\n  clientNetworks: ["192.168.77.0/24"]\n  allowDestinations: ["127.0.0.1"]\n' });
    try {
      const answer = await get(px, `${origin.url}/small`);
      expect(answer).toMatch(/^HTTP\/1\.1 403 [\s\S]*proxy\.clientNetworks/);
      const tunnel = await rawExchange(px.port, `CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n`);
      expect(tunnel).toMatch(/^HTTP\/1\.1 403 /);
      const events = await px.events(2);
      expect(events.map((e) => [e.action, e.status])).toEqual([['denied-client', 403], ['denied-client', 403]]);
    } finally {
      await px.close();
    }
  });
});

describe('no real DNS in tests', () => {
  it('the system resolver is never asked under FAIRWATCH_DIAL_LOOPBACK_ONLY=1', async () => {
    const { Resolver } = await import('../../proxy/resolve.ts');
    await expect(new Resolver().resolve('example.com')).rejects.toThrow(/DNS lookups are disabled/);
  });
});
