import { createLogger } from '../../core/log.ts';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PageTokens } from '../../core/identity/page-token.ts';
import { bindSignIn, signOut } from '../../core/identity/sign-in-binding.ts';
import { StaffPages } from '../../core/pages/index.ts';
import { connectRedis, ManagedRedis } from '../../core/storage/redis.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { SignInGate } from '../../proxy/tls/sign-in-gate.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';
import { pseudonyms, rawExchange, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// Sign-in networks through the real proxy (identity.signInNetworks), on a real redis-server: an
// unidentified client there is sent to the console's sign-in page (plain HTTP: 302; HTTPS: the page
// over TLS with an organisation CA, a 403 naming the link without one); once the console has bound
// the device it browses as that person; after sign-out it is sent to sign in again.

const run = promisify(execFile);
const tmp = tempDir();
const YAML = 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  signInNetworks: ["127.0.0.0/8"]\n';
const CONSOLE = 'http://console.test:8080';
const tokens = new PageTokens(Buffer.alloc(32, 9));
const ca = createCa(tmp.dir, { organisation: 'Sign-in Test CA' });
const caFile = join(tmp.dir, 'org-ca.pem');
let redisServer: ManagedRedis;
let redis: Redis;
let origin: Origin;
let px: TestProxy;
let noCa: TestProxy;

beforeAll(async () => {
  writeFileSync(caFile, ca.certPem);
  redisServer = await ManagedRedis.start(tmp.dir);
  redis = connectRedis(redisServer.url, createLogger('test'));
  origin = await startOrigin();
  const make = async (minter: LeafMinter | null) => {
    let pages: StaffPages | null = null;
    return startProxy({
      yaml: YAML,
      signIn: {
        // a 50 ms binding cache so a sign-out shows within the bounded polls below
        gate: new SignInGate(redis, pseudonyms, ['127.0.0.0/8'], 50),
        pages: () => (pages ??= new StaffPages(px.config, tokens, CONSOLE)),
        minter,
      },
    });
  };
  px = await make(new LeafMinter(ca));
  noCa = await make(null);
});
afterAll(async () => {
  await px?.close();
  await noCa?.close();
  await origin?.close();
  redis?.disconnect();
  await redisServer?.stop();
  tmp.cleanup();
});

/** curl through the proxy: status, Location and body. */
async function curl(proxyUrl: string, url: string, extra: string[] = []): Promise<{ status: string; location: string; body: string; code: number }> {
  const args = ['-sS', '--max-time', '10', '--noproxy', '', '-x', proxyUrl, '-w', '\n%{http_code} %{redirect_url}', ...extra, url];
  let out = '';
  let code = 0;
  try {
    out = (await run('curl', args)).stdout;
  } catch (e) {
    const err = e as { stdout?: string; code?: number };
    out = err.stdout ?? '';
    code = err.code ?? 1;
  }
  const nl = out.lastIndexOf('\n');
  const [status = '', location = ''] = out.slice(nl + 1).split(' ');
  return { status, location, body: out.slice(0, nl), code };
}

/** Polls (bounded) until `check` holds: the gate caches a binding for 50 ms. */
const eventually = <T>(get: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 5000) => pollUntil(get, check, timeoutMs, 50);

describe('sign-in networks at the proxy', () => {
  const client = pseudonyms.client('127.0.0.1');

  it('plain HTTP from an unidentified device: 302 to the console sign-in page with the way back, recorded', async () => {
    const before = px.sink.events.length;
    const r = await curl(px.url, `${origin.url}/page?x=1`);
    expect(r.status).toBe('302');
    const loc = new URL(r.location);
    expect(loc.origin + loc.pathname).toBe(`${CONSOLE}/sign-in`);
    expect(loc.searchParams.get('return')).toBe(`${origin.url}/page?x=1`);
    expect(tokens.verify(loc.searchParams.get('t')!, { purpose: 'sign-in' }).pseudonym).toBe(client);
    const ev = await px.find((e) => e.path === '/page', 5000);
    expect(px.sink.events.length).toBeGreaterThan(before);
    expect(ev).toMatchObject({ status: 302, action: 'auth-required', rule: 'sign-in', user_group: 'unidentified', user_pseudonym: client });
  });

  it('HTTPS from an unidentified device: the sign-in page inside TLS with the CA, a 403 naming the link without', async () => {
    // curl trusts only the organisation CA; the proxy answers before any name lookup
    const r = await curl(px.url, 'https://mail.test/inbox', ['--cacert', caFile]);
    expect(r.code).toBe(0);
    expect(r.body).toContain('Please sign in to use the internet');
    expect(r.body).toContain(`${CONSOLE}/sign-in?t=`);
    const refused = await rawExchange(noCa.port, 'CONNECT mail.test:443 HTTP/1.1\r\nHost: mail.test:443\r\n\r\n');
    expect(refused).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(refused).toContain(`sign in first: ${CONSOLE}/sign-in?t=`);
    // not a proxy-auth challenge; matched on the header, as the body holds a random reference id
    expect(refused).not.toMatch(/^Proxy-Authenticate:/im);
  });

  it('after the console binds the device it browses as that person; after sign-out it is sent to sign in again', async () => {
    await bindSignIn(redis, client, { user: 'carol', group: 'volunteers' }, 1);
    const ok = await eventually(() => curl(px.url, `${origin.url}/small`), (r) => r.status === '200');
    expect(ok.status).toBe('200');
    expect(ok.body).toHaveLength(1024);
    const ev = await px.find((e) => e.path === '/small' && e.status === 200, 5000);
    expect(ev).toMatchObject({ action: 'allow', user_group: 'volunteers', user_pseudonym: pseudonyms.user('carol') });
    // CONNECT is identified the same way: no sign-in page; the event names the person
    const tunnel = await rawExchange(px.port, 'CONNECT mail.test:8443 HTTP/1.1\r\nHost: mail.test:8443\r\n\r\n', 3000);
    expect(tunnel).toMatch(/^HTTP\/1\.1 403/);
    expect(tunnel).not.toContain('sign-in');
    const tev = await px.find((e) => e.method === 'CONNECT' && e.port === 8443, 5000);
    expect(tev).toMatchObject({ rule: 'proxy.connectPorts', user_group: 'volunteers', user_pseudonym: pseudonyms.user('carol') });

    await signOut(redis, client);
    const again = await eventually(() => curl(px.url, `${origin.url}/small`), (r) => r.status === '302');
    expect(again.status).toBe('302');
    expect(again.location.startsWith(`${CONSOLE}/sign-in?`)).toBe(true);
  });

  it('an unidentified device reaches the OpenID provider\'s hosts (identity.oidc) through a tunnel, and nothing else', async () => {
    // the provider: a TLS site with a certificate from the test CA, named idp.test in a hosts file
    const siteMinter = new LeafMinter(ca);
    const leaf = siteMinter.leafFor('idp.test');
    const site = createHttpsServer({ key: leaf.keyPem, cert: leaf.certPem, SNICallback: (name, cb) => cb(null, siteMinter.leafFor(name).context) }, (_req, res) => res.end('provider sign-in page'));
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    const port = (site.address() as AddressInfo).port;
    const hosts = join(tmp.dir, 'oidc-hosts');
    writeFileSync(hosts, '127.0.0.1 idp.test cdn.idp.test other.test\n');
    const yaml = `proxy:\n  allowDestinations: ["127.0.0.1"]\n  connectPorts: [${port}]\n  hostsFile: ${JSON.stringify(hosts)}\nidentity:\n  signInNetworks: ["127.0.0.0/8"]\n`
      + `  oidc:\n    - { id: test, displayName: Test, issuer: "https://idp.test:${port}/tenant", clientId: c, clientSecret: s, signInHosts: [cdn.idp.test] }\n`;
    let pages: StaffPages | null = null;
    const withIdp = await startProxy({ yaml, signIn: { gate: new SignInGate(redis, pseudonyms, ['127.0.0.0/8'], 50), pages: () => (pages ??= new StaffPages(withIdp.config, tokens, CONSOLE)), minter: new LeafMinter(ca) } });
    try {
      await signOut(redis, client);
      for (const host of ['idp.test', 'cdn.idp.test']) {
        const r = await curl(withIdp.url, `https://${host}:${port}/authorize`, ['--cacert', caFile]);
        expect(r.body, host).toBe('provider sign-in page');
        const ev = await withIdp.find((e) => e.method === 'CONNECT' && e.host === host, 5000);
        expect(ev, host).toMatchObject({ action: 'allow', user_group: 'sign-in', user_pseudonym: client });
        expect(ev!.flags).toContain('sign-in-provider');
      }
      // another host on the same address still gets the sign-in page
      const other = await curl(withIdp.url, `https://other.test:${port}/`, ['--cacert', caFile]);
      expect(other.body).toContain('Please sign in to use the internet');
    } finally {
      await withIdp.close();
      site.close();
    }
  });

  it('a device off the sign-in networks still gets 407 (Basic), not the sign-in page', async () => {
    const other = await startProxy({
      yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  signInNetworks: ["10.99.0.0/16"]\n',
      signIn: { gate: new SignInGate(redis, pseudonyms, ['10.99.0.0/16'], 50), pages: () => new StaffPages(other.config, tokens, CONSOLE), minter: null },
    });
    try {
      const r = await curl(other.url, `${origin.url}/page`);
      expect(r.status).toBe('407');
    } finally {
      await other.close();
    }
  });
});
