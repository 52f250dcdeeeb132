import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { MemorySink, type AccessEvent } from '../../core/events/event.ts';
import { hashPassword } from '../../core/identity/users.ts';
import { allowAll } from '../../core/policy/types.ts';
import { createCa, type OrganisationCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import { createProxyServer, type ProxyServer } from '../../proxy/server.ts';
import { listenerCertificate } from '../../proxy/tls/listener-cert.ts';
import { blockOnlyHooks } from '../helpers/block-hooks.ts';
import { tempDir } from '../helpers/tmp.ts';
import { noDns, pseudonyms, rawExchange, startHttpsOrigin, startOrigin, type Origin } from './harness.ts';

// proxy.tlsPort: an HTTPS proxy. The client speaks TLS to the proxy with a certificate minted from
// the organisation CA, then ordinary proxy requests, CONNECT, upgrades inside it; every one takes the
// plain listener's handlers (identification, the policy, inspection, own pages, events), and the
// events say which listener. Real curl (--proxy https://), Chromium trusting the CA through an NSS
// database (as a managed desktop does), local origins named by proxy.hostsFile.

const run = promisify(execFile);
const tmp = tempDir('fw-tlsport-');
const PASSWORD = 'sam password 1';
let orgCa: OrganisationCa;
let publicCa: OrganisationCa;
let plain: Origin;
let https: Awaited<ReturnType<typeof startHttpsOrigin>>;
let proxy: ProxyServer;
let sink: MemorySink;
let port: number;
let tlsPort: number;
const file = (name: string) => join(tmp.dir, name);

function yaml(extra = ''): string {
  return `proxy:
  allowDestinations: ["127.0.0.1"]
  connectPorts: [${https.port}]
  hostsFile: ${JSON.stringify(file('hosts'))}
  tlsPort: 0
  tlsNames: [localhost, 127.0.0.1]
  tlsHandshakeSeconds: 1
  upstreamCaFile: ${JSON.stringify(file('public-ca.pem'))}
${extra}policy:
  inspect: { hosts: [inspected.test] }
`;
}

beforeAll(async () => {
  orgCa = createCa(file('org'), { organisation: 'Test Charity' });
  publicCa = createCa(file('public'), { organisation: 'Public Test CA' });
  writeFileSync(file('org-ca.pem'), orgCa.certPem);
  writeFileSync(file('public-ca.pem'), publicCa.certPem);
  writeFileSync(file('hosts'), '127.0.0.1 origin.test secure.test inspected.test\n');
  const originLeaf = new LeafMinter(publicCa).forNames(['secure.test', 'inspected.test'], 2);
  plain = await startOrigin();
  https = await startHttpsOrigin({ key: originLeaf.keyPem, cert: originLeaf.certPem + publicCa.certPem });
  const config = parseConfig(yaml(), 'tls.yaml');
  sink = new MemorySink();
  const credentials = new CredentialStore([{ username: 'sam', passwordHash: await hashPassword(PASSWORD), group: 'staff', disabled: false }], 60_000);
  const minter = new LeafMinter(orgCa);
  proxy = createProxyServer({ hooks: blockOnlyHooks, config, engine: () => allowAll, sink, credentials, pseudonyms, lookup: noDns, inspection: { minter } });
  port = (await proxy.listen(0, '127.0.0.1')).port;
  tlsPort = (await proxy.listenTls(listenerCertificate(config, minter), 0, '127.0.0.1')).port;
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await plain?.close();
  await https?.close();
  tmp.cleanup();
});

async function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '15', ...args]);
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

const viaTls = (extra: string[] = []) => ['--proxy', `https://localhost:${tlsPort}`, '--proxy-cacert', file('org-ca.pem'), ...extra];
const withUser = ['--proxy-user', `sam:${PASSWORD}`];

async function find(pred: (e: AccessEvent) => boolean): Promise<AccessEvent | undefined> {
  for (let i = 0; i < 250; i++) {
    const hit = sink.events.find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

describe('the TLS listener (proxy.tlsPort)', () => {
  it('curl --proxy https:// with Basic credentials: plain HTTP to a local origin; the event has the person and says which listener', async () => {
    const r = await curl([...viaTls(withUser), '-w', '\n%{http_code}', `http://origin.test:${plain.port}/page`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/hello[\s\S]*\n200$/);
    const e = await find((x) => x.host === 'origin.test' && x.path === '/page');
    expect(e).toMatchObject({ status: 200, action: 'allow', user_pseudonym: pseudonyms.user('sam'), user_group: 'staff' });
    expect(e!.flags).toContain('proxy-tls');
  });

  it('no credentials over TLS: the same 407 and the same event as on the plain port', async () => {
    const r = await curl([...viaTls(), '-o', '/dev/null', '-w', '%{http_code}', `http://origin.test:${plain.port}/small`]);
    expect(r.out).toBe('407');
    const e = await find((x) => x.host === 'origin.test' && x.path === '/small' && x.action === 'auth-required');
    expect(e!.flags).toContain('proxy-tls');
  });

  it('HTTPS through CONNECT inside the TLS connection (TLS in TLS), spliced; and an inspected host opened with the organisation CA', async () => {
    const r = await curl([...viaTls(withUser), '--cacert', file('public-ca.pem'), '-w', '\n%{http_code}', `https://secure.test:${https.port}/small`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\n200$/);
    const tunnel = await find((x) => x.host === 'secure.test' && x.method === 'CONNECT');
    expect(tunnel).toMatchObject({ action: 'allow', user_pseudonym: pseudonyms.user('sam') });
    expect(tunnel!.flags).toEqual(expect.arrayContaining(['proxy-tls']));
    expect(tunnel!.flags).not.toContain('inspected');
    expect(tunnel!.bytes_up).toBeGreaterThan(0);

    const opened = await curl([...viaTls(withUser), '--cacert', file('org-ca.pem'), '-w', '\n%{http_code}', `https://inspected.test:${https.port}/page`]);
    expect(opened.code, opened.err).toBe(0);
    expect(opened.out).toMatch(/hello[\s\S]*\n200$/);
    const inner = await find((x) => x.host === 'inspected.test' && x.method === 'GET' && x.path === '/page');
    expect(inner).toMatchObject({ scheme: 'https', action: 'allow', user_pseudonym: pseudonyms.user('sam') });
    expect(inner!.flags).toContain('proxy-tls');
    expect((await find((x) => x.host === 'inspected.test' && x.method === 'CONNECT'))!.flags).toEqual(expect.arrayContaining(['inspected', 'proxy-tls']));
  });

  it("the proxy's own pages and a WebSocket upgrade answer over TLS as on the plain port", async () => {
    const page = await curl([...viaTls(), '-w', '\n%{http_code}', 'http://fairwatch.internal/']);
    expect(page.code, page.err).toBe(0);
    expect(page.out).toMatch(/\n200$/);
    const reply = await new Promise<string>((resolve) => {
      const t = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca: orgCa.certPem }, () => {
        t.write(`GET http://origin.test:${plain.port}/ws HTTP/1.1\r\nHost: origin.test:${plain.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nProxy-Authorization: Basic ${Buffer.from(`sam:${PASSWORD}`).toString('base64')}\r\n\r\n`);
      });
      let out = '';
      const timer = setTimeout(() => { t.destroy(); resolve(out); }, 5000);
      t.on('data', (d) => {
        out += d.toString('latin1');
        if (out.includes('\r\n\r\n') && !out.includes('ping-through-tls')) t.write('ping-through-tls');
        if (out.includes('ping-through-tls')) { clearTimeout(timer); t.destroy(); resolve(out); }
      });
      t.on('error', () => { clearTimeout(timer); resolve(out); });
    });
    expect(reply).toMatch(/^HTTP\/1\.1 101 /);
    expect(reply).toContain('ping-through-tls');
    const e = await find((x) => x.path === '/ws' && x.host === 'origin.test');
    expect(e!.flags).toContain('proxy-tls');
  });

  it('the plain port still works beside it, and its events do not claim TLS', async () => {
    const r = await curl(['--proxy', `http://127.0.0.1:${port}`, ...withUser, '-w', '\n%{http_code}', `http://origin.test:${plain.port}/files/report.pdf`]);
    expect(r.out).toMatch(/\n200$/);
    const e = await find((x) => x.path === '/files/report.pdf');
    expect(e!.flags).not.toContain('proxy-tls');
  });

  it('the certificate names are checked: a proxy name it does not carry fails in curl', async () => {
    // other.test reaches the same listener (curl's --resolve), but is not in proxy.tlsNames
    const r = await curl(['--proxy', `https://other.test:${tlsPort}`, '--resolve', `other.test:${tlsPort}:127.0.0.1`, '--proxy-cacert', file('org-ca.pem'), `http://origin.test:${plain.port}/small`]);
    expect(r.code, r.err).toBe(60);
    expect(r.err).toMatch(/subject name|does not match/i);
    const byAddress = await curl(['--proxy', `https://127.0.0.1:${tlsPort}`, '--proxy-cacert', file('org-ca.pem'), '-o', '/dev/null', '-w', '%{http_code}', `http://fairwatch.internal/`]);
    expect(byAddress.out).toBe('200');
    const untrusted = await curl(['--proxy', `https://localhost:${tlsPort}`, '--proxy-cacert', file('public-ca.pem'), `http://origin.test:${plain.port}/small`]);
    expect(untrusted.code).toBe(60);
  });

  it('Chromium with an HTTPS proxy and the organisation CA in its NSS database loads a page; without the CA it cannot', async () => {
    const load = async (home: string) => {
      const browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        env: { ...process.env, HOME: home },
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        proxy: { server: `https://localhost:${tlsPort}`, username: 'sam', password: PASSWORD },
      });
      try {
        const page = await browser.newPage();
        const res = await page.goto(`http://origin.test:${plain.port}/page`, { timeout: 15_000 }).catch((e: Error) => e);
        return res instanceof Error ? res.message : `${res?.status()} ${await page.textContent('body')}`;
      } finally {
        await browser.close();
      }
    };
    const trusted = file('home-trusted');
    mkdirSync(join(trusted, '.pki', 'nssdb'), { recursive: true });
    await run('certutil', ['-N', '-d', `sql:${join(trusted, '.pki', 'nssdb')}`, '--empty-password']);
    await run('certutil', ['-A', '-d', `sql:${join(trusted, '.pki', 'nssdb')}`, '-n', 'Test Charity CA', '-t', 'C,,', '-i', file('org-ca.pem')]);
    const before = sink.events.length;
    expect(await load(trusted)).toBe('200 hello');
    const e = await find((x) => sink.events.indexOf(x) >= before && x.path === '/page' && x.status === 200);
    expect(e).toMatchObject({ user_pseudonym: pseudonyms.user('sam') });
    expect(e!.flags).toContain('proxy-tls');
    const bare = file('home-bare');
    mkdirSync(bare, { recursive: true });
    expect(await load(bare)).toMatch(/ERR_PROXY_CERTIFICATE_INVALID|ERR_CERT|ERR_PROXY_CONNECTION_FAILED|ERR_TUNNEL_CONNECTION_FAILED/);
  }, 90_000);
});

describe('attacks on the listeners', () => {
  it('plain HTTP bytes to the TLS port: a page naming the right setting, an event, nothing forwarded', async () => {
    const before = sink.events.length;
    const answer = await rawExchange(tlsPort, `GET http://origin.test:${plain.port}/small HTTP/1.1\r\nHost: origin.test\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 [\s\S]*proxy\.tlsPort[\s\S]*speaks TLS/);
    const e = await find((x) => sink.events.indexOf(x) >= before && x.rule === 'proxy.tlsPort');
    expect(e).toMatchObject({ status: 400, action: 'error', method: 'GET' });
    expect(e!.flags).toEqual(expect.arrayContaining(['not-tls', 'malformed']));
    expect(sink.events.slice(before).some((x) => x.path === '/small' && x.status === 200)).toBe(false);
  });

  it('TLS to the plain port: refused as not HTTP, the event saying TLS came to the plain port', async () => {
    const before = sink.events.length;
    const failed = await new Promise<string>((resolve) => {
      const t = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: orgCa.certPem }, () => resolve('connected'));
      t.on('error', (err) => resolve(err.message));
    });
    expect(failed).not.toBe('connected');
    const e = await find((x) => sink.events.indexOf(x) >= before && x.flags.includes('tls-on-plain-port'));
    expect(e).toMatchObject({ status: 400, rule: 'http-parser' });
  });

  it('a slow handshake (slowloris) is cut after proxy.tlsHandshakeSeconds, whether it sends nothing or half a ClientHello', async () => {
    const closedAfter = (data: Buffer | null) => new Promise<boolean>((resolve) => {
      const s: Socket = connect(tlsPort, '127.0.0.1', () => { if (data) s.write(data); });
      // the bound is generous: the test is that the proxy closes it at all, not how fast
      const give = setTimeout(() => { s.destroy(); resolve(false); }, 15_000);
      s.on('close', () => { clearTimeout(give); resolve(true); });
      s.on('error', () => {});
    });
    // a TLS record header announcing 512 bytes of handshake, and 3 of them
    const half = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]);
    expect(await Promise.all([closedAfter(null), closedAfter(half)])).toEqual([true, true]);
  }, 40_000);
});

describe('the listener certificate', () => {
  const cfg = (extra: string) => parseConfig(`proxy:\n  tlsPort: 3129\n${extra}`, 't.yaml');
  it('files that are missing, not PEM, or a key that is not the certificate\'s: an error naming the key and file', () => {
    const mine = new LeafMinter(orgCa).forNames(['proxy.test'], 2);
    writeFileSync(file('cert.pem'), mine.certPem);
    writeFileSync(file('mine.key'), mine.keyPem);
    writeFileSync(file('junk.pem'), 'not a certificate\n');
    expect(() => listenerCertificate(cfg(`  tlsCert: ${file('nope.pem')}\n  tlsKey: ${file('mine.key')}\n`), null)).toThrow(/proxy\.tlsCert: cannot read .*nope\.pem \(ENOENT\)/);
    expect(() => listenerCertificate(cfg(`  tlsCert: ${file('junk.pem')}\n  tlsKey: ${file('mine.key')}\n`), null)).toThrow(/proxy\.tlsCert: .*junk\.pem is not a PEM certificate/);
    expect(() => listenerCertificate(cfg(`  tlsCert: ${file('cert.pem')}\n  tlsKey: ${file('junk.pem')}\n`), null)).toThrow(/proxy\.tlsKey: .*junk\.pem is not a PEM private key/);
    // two minters have two keys: the certificate of one with the key of the other
    const mismatched = new LeafMinter(orgCa).forNames(['proxy.test'], 2);
    writeFileSync(file('mismatched.pem'), mismatched.certPem);
    expect(() => listenerCertificate(cfg(`  tlsCert: ${file('mismatched.pem')}\n  tlsKey: ${file('mine.key')}\n`), null)).toThrow(/proxy\.tlsKey: .*mine\.key is not the key of the certificate in proxy\.tlsCert/);
    expect(listenerCertificate(cfg(`  tlsCert: ${file('cert.pem')}\n  tlsKey: ${file('mine.key')}\n`), null).describe).toMatch(/cert\.pem.*proxy\.test/);
    expect(() => parseConfig(`proxy:\n  tlsCert: ${file('cert.pem')}\n`, 'f.yaml')).toThrow(/proxy\.tlsCert and proxy\.tlsKey go together/);
  });

  it('no organisation CA and no files: the error says how to get one; bad tlsNames are named', () => {
    expect(() => listenerCertificate(cfg(''), null)).toThrow(/proxy\.tlsPort needs a certificate: .*fairwatch ca init.*proxy\.tlsCert/);
    expect(() => listenerCertificate(cfg('  tlsNames: ["not a name!"]\n'), new LeafMinter(orgCa))).toThrow(/proxy\.tlsNames: .*not a name!/);
  });
});
