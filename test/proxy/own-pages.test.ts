import { blockOnlyHooks } from '../helpers/block-hooks.ts';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { MemorySink } from '../../core/events/event.ts';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { allowAll } from '../../core/policy/types.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import { createProxyServer, type ProxyServer } from '../../proxy/server.ts';
import { noDns, rawExchange } from './harness.ts';

// The proxy's own pages: http://fairwatch.internal/ through the proxy and the proxy's own address
// as a web site answer here (never forwarded, no DNS, no policy), with the console's link and the
// organisation's certificate for devices that lack it.

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
let proxy: ProxyServer;
let port: number;
const sink = new MemorySink();

beforeAll(async () => {
  const config = parseConfig('organisation: { name: "Hope <Trust>" }\nconsole: { publicUrl: "https://fw.example.org" }\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n', 't.yaml');
  proxy = createProxyServer({ hooks: blockOnlyHooks, config, engine: () => allowAll, sink, credentials: new CredentialStore([]), pseudonyms: new Pseudonymiser(randomBytes(32)), lookup: noDns, caCertPem: CA });
  port = (await proxy.listen(0, '127.0.0.1')).port;
});

afterAll(() => proxy.close());

const get = (target: string) => rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe("the proxy's own pages", () => {
  it('http://fairwatch.internal/ names the console and offers the certificate; the name is never looked up', async () => {
    const page = await get('http://fairwatch.internal/');
    expect(page).toMatch(/^HTTP\/1\.1 200 /);
    expect(page).toContain('href="https://fw.example.org/"');
    expect(page).toContain('Hope &lt;Trust&gt;');
    expect(page).toContain('href="/ca.crt"');
    const cert = await get('http://fairwatch.internal/ca.crt');
    expect(cert).toMatch(/^HTTP\/1\.1 200 [\s\S]*Content-Type: application\/x-x509-ca-cert/);
    expect(cert.endsWith(CA)).toBe(true);
    const events = sink.events.filter((e) => e.host === 'fairwatch.internal');
    expect(events.map((e) => [e.action, e.rule, e.status])).toEqual([['allow', 'proxy-page', 200], ['allow', 'proxy-page', 200]]);
  });

  it('an unknown page there is a 404, not a request to the internet', async () => {
    expect(await get('http://fairwatch.internal/admin')).toMatch(/^HTTP\/1\.1 404 [\s\S]*no page \/admin/);
    expect(sink.events.at(-1)).toMatchObject({ host: 'fairwatch.internal', status: 404 });
    expect(sink.events.at(-1)!.flags).not.toContain('dns-failed');
  });

  it('the proxy addressed as a web site answers / and /ca.crt; other paths get the advice to set it as a proxy', async () => {
    expect(await get('/')).toMatch(/^HTTP\/1\.1 200 [\s\S]*The Hope &lt;Trust&gt; web proxy/);
    expect(await get('/ca.crt')).toContain('BEGIN CERTIFICATE');
    expect(await get('/index.php')).toMatch(/^HTTP\/1\.1 400 [\s\S]*web proxy, not a web site/);
  });
});
