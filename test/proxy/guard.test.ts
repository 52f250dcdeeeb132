import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normaliseIp } from '../../core/net/cidr.ts';
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

const dns = fakeDns({
  'intranet.example.com': '10.0.0.5', 'sneaky.example.com': '127.0.0.1', 'allowed.example.com': '127.0.0.1',
  // a resolver may answer AAAA records that carry IPv4 (DNS64, a hostile zone)
  'mapped.example.com': '::ffff:127.0.0.1', 'compat.example.com': '::10.0.0.5', 'mapped-meta.example.com': '::ffff:169.254.169.254',
});

beforeAll(async () => {
  origin = await startOrigin();
  echo = await startEcho();
  consoleServer = createServer((_q, r) => r.end('console'));
  consolePort = await new Promise<number>((res) => consoleServer.listen(0, '127.0.0.1', () => res((consoleServer.address() as AddressInfo).port)));
  // bare addresses are what these tests aim at the guard: proxy.ipTunnels (refused by default, its
  // own tests in ip-tunnels.test.ts) lets them through to it
  strict = await startProxy({ yaml: 'proxy:\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n', lookup: dns });
  open = await startProxy({
    yaml: `proxy:\n  allowDestinations: ["127.0.0.1", "allowed.example.com"]\n  ipTunnels: allow\n  connectPorts: [443, ${echo.port}]\nconsole:\n  port: ${consolePort}\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
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
    // IPv4 inside IPv6: mapped (dotted and hex), compatible ::/96, SIIT, 6to4, Teredo, NAT64; long and bracketed forms
    ['::ffff:127.0.0.1', true], ['::ffff:7f00:1', true], ['::127.0.0.1', true], ['::7f00:1', true], ['::a00:5', true],
    ['::ffff:a9fe:a9fe', true], ['0:0:0:0:0:ffff:10.0.0.1', true], ['[::ffff:192.168.0.1]', true], ['::ffff:0:7f00:1', true],
    ['2002:7f00:1::', true], ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true], ['64:ff9b::a00:1', true], ['64:ff9b:1::1', true],
    ['0:0:0:0:0:0:0:1', true], ['::0.0.0.0', true], ['FE80::1%eth0', true], ['::ffff:8.8.8.8', false], ['::8.8.8.8', false],
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

  it('the proxy and console ports are refused in every spelling of a loopback or own address, even when 127.0.0.1 is allowed', () => {
    const g = new DestinationGuard({ allowDestinations: ['127.0.0.1', '10.1.0.0/16'], selfPorts: [3128, 8080], selfAddresses: ['10.1.0.9'] });
    const loopbacks = ['127.0.0.1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::127.0.0.1', '::7f00:1', '0:0:0:0:0:ffff:127.0.0.1', '[::ffff:127.0.0.1]', '::ffff:127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::', '0.0.0.0', '::ffff:0.0.0.0'];
    for (const ip of loopbacks) {
      for (const port of [3128, 8080]) {
        const v = g.check(ip.replace(/^\[|\]$/g, ''), port, [ip]);
        expect(v.ok, `${ip}:${port}`).toBe(false);
        expect(v.ok ? '' : v.reason).toMatch(/fairwatch itself/);
      }
    }
    for (const ip of ['10.1.0.9', '::ffff:10.1.0.9', '::a01:9']) expect(g.check(ip, 8080, [ip]).ok, ip).toBe(false);
    // the same spellings on other ports are what the allow list says: 127.0.0.1 is allowed, so they are too
    for (const ip of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::127.0.0.1']) expect(g.check(ip, 9000, [ip]).ok, ip).toBe(true);
    // an allow-list entry in mapped form allows the IPv4 address, and the other way round
    const mapped = new DestinationGuard({ allowDestinations: ['::ffff:10.2.0.1'], selfPorts: [], selfAddresses: [] });
    expect(mapped.check('10.2.0.1', 80, ['10.2.0.1']).ok).toBe(true);
    expect(mapped.check('10.2.0.2', 80, ['::ffff:10.2.0.2']).ok).toBe(false);
  });

  it('one spelling per address, the same however often and after however many other addresses it is asked', () => {
    const spellings: Array<[string, string]> = [
      ['::ffff:127.0.0.1', '127.0.0.1'], ['[::ffff:7f00:1]', '127.0.0.1'], ['::10.0.0.5', '10.0.0.5'], ['FE80::1%eth0', 'fe80::1'],
      ['0:0:0:0:0:0:0:1', '::1'], ['::', '::'], ['192.0.2.1', '192.0.2.1'], ['not-an-address', 'not-an-address'],
    ];
    const ask = () => spellings.map(([given]) => normaliseIp(given));
    const first = ask();
    expect(first).toEqual(spellings.map(([, one]) => one));
    expect(ask()).toEqual(first);
    // many more distinct addresses than are remembered (a busy network's DHCP range, a scan)
    for (let i = 0; i < 10_000; i++) expect(normaliseIp(`::ffff:10.${i >> 8}.${i & 255}.1`)).toBe(`10.${i >> 8}.${i & 255}.1`);
    expect(ask()).toEqual(first);
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
    ['[::ffff:127.0.0.1]', (o: Origin) => `http://[::ffff:127.0.0.1]:${o.port}/small`],
    ['[::ffff:7f00:1]', (o: Origin) => `http://[::ffff:7f00:1]:${o.port}/small`],
    ['[::127.0.0.1] (IPv4-compatible)', (o: Origin) => `http://[::127.0.0.1]:${o.port}/small`],
    ['[::a00:5] (IPv4-compatible 10.0.0.5)', () => 'http://[::a00:5]/'],
    ['[::ffff:169.254.169.254] (metadata, mapped)', () => 'http://[::ffff:169.254.169.254]/latest/meta-data/'],
    ['[::ffff:0:7f00:1] (SIIT)', (o: Origin) => `http://[::ffff:0:7f00:1]:${o.port}/small`],
    ['a name resolving to ::ffff:127.0.0.1', (o: Origin) => `http://mapped.example.com:${o.port}/small`],
    ['a name resolving to ::10.0.0.5', () => 'http://compat.example.com/'],
    ['a name resolving to ::ffff:169.254.169.254', () => 'http://mapped-meta.example.com/'],
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
    ['[::ffff:127.0.0.1]:443'], ['[::ffff:a00:1]:443'], ['[::10.0.0.1]:443'], ['[::a9fe:a9fe]:443'], ['mapped.example.com:443'],
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

  it('IPv4-mapped and IPv4-compatible spellings of 127.0.0.1 reach neither the console nor the proxy itself', async () => {
    const hosts = ['[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::127.0.0.1]', '[::7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]', 'mapped.example.com'];
    for (const host of hosts) {
      for (const port of [consolePort, open.port]) {
        const answer = await get(open, `http://${host}:${port}/`);
        expect(answer, `${host}:${port}`).toMatch(/^HTTP\/1\.1 403 [\s\S]*fairwatch itself/);
        expect(answer, `${host}:${port}`).not.toMatch(/\r\n\r\nconsole$/); // the console's own answer
      }
      const tunnel = await rawExchange(open.port, `CONNECT ${host}:${open.port} HTTP/1.1\r\nHost: ${host}:${open.port}\r\n\r\n`);
      expect(tunnel, host).toMatch(/^HTTP\/1\.1 403 /);
    }
    const refused = open.sink.events.filter((e) => e.rule === 'destination-guard' && (e.port === consolePort || e.port === open.port));
    expect(refused.length).toBeGreaterThanOrEqual(hosts.length * 2);
  });

  it('CONNECT only to configured ports: a refused port gets 403 naming proxy.connectPorts and an event', async () => {
    const answer = await rawExchange(open.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403 [\s\S]*proxy\.connectPorts/);
    const e = await open.find((x) => x.port === origin.port && x.method === 'CONNECT');
    expect(e).toMatchObject({ method: 'CONNECT', status: 403, port: origin.port, action: 'block', rule: 'proxy.connectPorts' });
    expect(e!.flags).toContain('port-refused');
  });

  it('clients outside proxy.clientNetworks get 403 and an event (not an open proxy)', async () => {
    const px = await startProxy({ yaml: 'proxy:\n  clientNetworks: ["192.168.77.0/24"]\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n' });
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
