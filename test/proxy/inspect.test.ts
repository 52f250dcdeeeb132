import { blockOnlyHooks } from '../helpers/block-hooks.ts';
import { execFile } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { MemorySink, type AccessEvent } from '../../core/events/event.ts';
import { aupSetKey } from '../../core/identity/aup.ts';
import { PageTokens } from '../../core/identity/page-token.ts';
import { siteFromConfig, transparencyPage } from '../../core/pages/index.ts';
import { registry } from '../../core/metrics.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import type { PolicyEngine } from '../../core/policy/types.ts';
import type { Platform } from '../../core/platform.ts';
import { createCa, type OrganisationCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { UNTRUSTED_CA_KEY } from '../../core/tls/untrusted-ca.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import type { LookupFn } from '../../proxy/resolve.ts';
import { createProxyServer, type ProxyServer } from '../../proxy/server.ts';
import { staffHooks } from '../../proxy/tls/staff-hooks.ts';
import { UntrustedCaClients } from '../../proxy/tls/untrusted-ca.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { selfSignedCert } from './harness.ts';

// Selective HTTPS inspection through the real proxy, real TLS both ways and curl as the browser:
// tunnels to inspected categories are opened with the organisation CA and each request inside gets
// the pipeline (software-download rule on the response, URL lists, block page); everything else is
// spliced untouched (the client sees the origin's own certificate). Names map to 127.0.0.1 through
// the injected lookup, never DNS.
process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY = '1';

const run = promisify(execFile);
const tmp = tempDir('fw-inspect-');
const MZ_BODY = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(510, 0x90)]);
const INSTALLER = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(4000, 0x41)]);
/** random bytes, so a download or upload that loses, repeats or reorders any part shows in its hash */
const BIG = randomBytes(6 * 2 ** 20);

let p: Platform;
let cleanup: () => Promise<void>;
let orgCa: OrganisationCa;
let publicCa: OrganisationCa;
let originPort: number;
let badPort: number;
let origin: HttpsServer;
let bad: HttpsServer;
let publicMinter: LeafMinter;
let proxy: ProxyServer;
let proxyPort: number;
let sink: MemorySink;
let bare: { proxy: ProxyServer; port: number; sink: MemorySink };
const files = { org: '', pub: '' };

function originHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/setup.exe') {
    res.writeHead(200, { 'content-type': 'application/x-msdownload', 'content-length': INSTALLER.length });
    res.end(INSTALLER);
  } else if (path === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
    res.end(BIG);
  } else if (path === '/echo') {
    const hash = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => { hash.update(d); n += d.length; });
    req.on('end', () => res.end(`${n} ${hash.digest('hex')}`));
  } else if (path === '/tool') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': MZ_BODY.length });
    res.end(MZ_BODY);
  } else {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<h1>origin ${req.headers.host} ${path}</h1>`);
  }
}

/** Every *.test and *.nhs.uk name is 127.0.0.1 here; anything else is not found. */
const lookup: LookupFn = (hostname, _o, cb) => {
  if (hostname.endsWith('.test') || hostname.endsWith('nhs.uk')) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
};

const listen = (s: HttpsServer) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

function engineFrom(snapshot: PolicySnapshot): PolicyEngine {
  return { decide: (i) => snapshot.decide(i), categoriesOf: (h) => snapshot.categoriesOf(h) };
}

beforeAll(async () => {
  const lists = join(tmp.dir, 'lists');
  const put = (cat: string, file: string, lines: string[]) => {
    mkdirSync(join(lists, cat), { recursive: true });
    writeFileSync(join(lists, cat, file), lines.join('\n') + '\n');
  };
  put('download', 'domains', ['dl.test', 'bank.test', 'www.nhs.uk', 'safe.test', 'bad.test']);
  put('filehosting', 'domains', ['files.test']);
  put('bank', 'domains', ['bank.test']);
  put('gambling', 'urls', ['dl.test/casino']);
  put('news', 'domains', ['plain.test']);

  publicCa = createCa(join(tmp.dir, 'public'), { organisation: 'Public Test CA' });
  publicMinter = new LeafMinter(publicCa, 50);
  origin = createHttpsServer({ SNICallback: (name, cb) => cb(null, publicMinter.leafFor(name).context) }, originHandler);
  originPort = await listen(origin);
  const self = selfSignedCert('bad.test');
  bad = createHttpsServer({ key: self.key, cert: self.cert }, originHandler);
  badPort = await listen(bad);

  files.pub = join(tmp.dir, 'public.pem');
  writeFileSync(files.pub, publicCa.certPem);
  const yaml = `
proxy: { port: 0, allowDestinations: [127.0.0.1], ipTunnels: allow, connectPorts: [${originPort}, ${badPort}], upstreamCaFile: "${files.pub}", untrustedCaMinutes: 30 }
identity:
  guestNetworks: [127.0.0.0/8]
  ipUsers: { "127.0.0.1": alice, "127.0.0.2": ivan }
policy:
  rules:
    - { categories: [gambling], action: block, clause: "Gambling is never acceptable." }
  inspect: { categories: [download, filehosting] }
  neverInspect: { categories: [bank], hosts: [safe.test] }
aup: { version: "7" }
`;
  ({ platform: p, cleanup } = await openTestPlatform({ yaml, store: false }));
  orgCa = createCa(join(tmp.dir, 'org'), { organisation: p.config.organisation.name });
  files.org = join(tmp.dir, 'org.pem');
  writeFileSync(files.org, orgCa.certPem);
  for (const u of ['alice', 'ivan']) await p.redis.sadd(aupSetKey('7'), p.pseudonyms.user(u));
  await p.redis.del(UNTRUSTED_CA_KEY);

  const snapshot = new PolicySnapshot(p.config.policy, p.config.organisation.timezone, await loadLists(lists));
  const minter = new LeafMinter(orgCa);
  sink = new MemorySink();
  const credentials = new CredentialStore([
    { username: 'alice', passwordHash: 'x', group: 'staff', disabled: false },
    { username: 'ivan', passwordHash: 'x', group: 'it', disabled: false },
  ]);
  const hooks = staffHooks({ config: p.config, redis: p.redis, tokens: new PageTokens(Buffer.alloc(32, 1)), pseudonyms: p.pseudonyms, consoleUrl: () => 'http://127.0.0.1:9/', minter });
  proxy = createProxyServer({
    config: p.config, engine: () => engineFrom(snapshot), sink, credentials, pseudonyms: p.pseudonyms, lookup, hooks,
    inspection: { minter, untrusted: new UntrustedCaClients({ minutes: 30, pseudonym: (ip) => p.pseudonyms.client(ip), redis: p.redis }) },
  });
  proxyPort = (await proxy.listen(0, '127.0.0.1')).port;

  // the same configuration, no organisation CA: nothing can be opened
  const bareSink = new MemorySink();
  const bareProxy = createProxyServer({
    config: parseConfig(yaml, 'bare.yaml'), engine: () => engineFrom(snapshot), sink: bareSink, credentials, pseudonyms: p.pseudonyms, lookup,
    hooks: staffHooks({ config: p.config, redis: p.redis, tokens: new PageTokens(Buffer.alloc(32, 1)), pseudonyms: p.pseudonyms, consoleUrl: () => 'http://127.0.0.1:9/', minter: null }),
    inspection: { minter: null },
  });
  bare = { proxy: bareProxy, port: (await bareProxy.listen(0, '127.0.0.1')).port, sink: bareSink };
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await bare?.proxy.close();
  origin?.close();
  bad?.close();
  origin?.closeAllConnections();
  bad?.closeAllConnections();
  await cleanup?.();
  tmp.cleanup();
});

interface CurlResult { code: number; status: number; body: string; stderr: string }

/** curl through the proxy, trusting `ca`, from the source address `from`. */
async function curl(url: string, opts: { ca?: string; from?: string; port?: number } = {}): Promise<CurlResult> {
  const out = join(tmp.dir, `body-${Math.random().toString(36).slice(2)}`);
  const args = ['-sS', '--max-time', '15', '--proxy', `http://127.0.0.1:${opts.port ?? proxyPort}`, '--cacert', opts.ca ?? files.org, '-o', out, '-w', '%{http_code}'];
  if (opts.from) args.push('--interface', opts.from);
  args.push(url);
  try {
    const r = await run('curl', args, { timeout: 20_000, encoding: 'latin1' });
    const { readFileSync } = await import('node:fs');
    return { code: 0, status: Number(r.stdout), body: readFileSync(out, 'latin1'), stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, status: Number(err.stdout ?? 0), body: '', stderr: err.stderr ?? '' };
  }
}

/** Opens a CONNECT tunnel from `from` and does TLS inside, trusting only `ca`: the certificate the client saw. */
function peerThroughTunnel(host: string, port: number, ca: string, opts: { from?: string; proxy?: number } = {}): Promise<{ fingerprint: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ port: opts.proxy ?? proxyPort, host: '127.0.0.1', localAddress: opts.from });
    const timer = setTimeout(() => { s.destroy(); reject(new Error('timeout')); }, 10_000);
    let buf = '';
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!buf.startsWith('HTTP/1.1 200')) { clearTimeout(timer); reject(new Error(buf)); return; }
      const t = tlsConnect({ socket: s, servername: host, ca: [ca] }, () => {
        const cert = t.getPeerX509Certificate()!;
        clearTimeout(timer);
        resolve({ fingerprint: cert.fingerprint256, issuer: cert.issuer });
        t.end();
      });
      t.on('error', (e) => { clearTimeout(timer); reject(e); });
    };
    s.on('data', onData);
    s.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
  });
}

const originFingerprint = (host: string) => new X509Certificate(publicMinter.leafFor(host).certPem).fingerprint256;

async function eventWhere(s: MemorySink, pred: (e: AccessEvent) => boolean): Promise<AccessEvent> {
  for (let i = 0; i < 500; i++) {
    const hit = s.events.find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no such event among ${JSON.stringify(s.events.map((e) => [e.method, e.host, e.path, e.action, e.rule, e.flags]))}`);
}

async function untrustedRejections(): Promise<number> {
  const m = await registry.getSingleMetric('fairwatch_proxy_untrusted_ca_rejections_total')!.get();
  return m.values.reduce((a, v) => a + v.value, 0);
}

describe('selective HTTPS inspection', () => {
  it('an .exe over HTTPS from an inspected host gets the block page; its own event says block / software-download / executable', async () => {
    const r = await curl(`https://dl.test:${originPort}/setup.exe`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(403);
    expect(r.body).toContain('Software may not be downloaded');
    expect(r.body).not.toContain('MZAAAA');
    const ev = await eventWhere(sink, (e) => e.path === '/setup.exe' && e.host === 'dl.test');
    expect(ev).toMatchObject({ scheme: 'https', method: 'GET', action: 'block', rule: 'software-download', port: originPort });
    expect(ev.flags).toContain('executable');
    expect(ev.user_pseudonym).toBe(p.pseudonyms.user('alice'));
    const tunnel = await eventWhere(sink, (e) => e.method === 'CONNECT' && e.host === 'dl.test');
    expect(tunnel.flags).toContain('inspected');
    expect(tunnel.action).toBe('allow');
  });

  it('an MZ body served as application/octet-stream is blocked the same way', async () => {
    const r = await curl(`https://files.test:${originPort}/tool`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('Software may not be downloaded');
    const ev = await eventWhere(sink, (e) => e.path === '/tool' && e.host === 'files.test');
    expect(ev).toMatchObject({ scheme: 'https', action: 'block', rule: 'software-download', content_type: 'application/octet-stream' });
    expect(ev.flags).toContain('executable');
  });

  it('an IT-group user (software-download permission) gets the file, byte for byte, flagged executable', async () => {
    const r = await curl(`https://dl.test:${originPort}/setup.exe`, { from: '127.0.0.2' });
    expect(r.status).toBe(200);
    expect(Buffer.from(r.body, 'latin1').equals(INSTALLER)).toBe(true);
    const ev = await eventWhere(sink, (e) => e.path === '/setup.exe' && e.user_pseudonym === p.pseudonyms.user('ivan'));
    expect(ev).toMatchObject({ scheme: 'https', action: 'allow', filename: 'setup.exe', status: 200 });
    expect(ev.client_pseudonym).toBe(p.pseudonyms.client('127.0.0.2'));
    expect(ev.bytes_down).toBeGreaterThanOrEqual(INSTALLER.length);
    expect(ev.bytes_up).toBeGreaterThan(0);
    // the tunnel's own event keeps only the TLS overhead: the file's bytes are counted once
    const tunnel = await eventWhere(sink, (e) => e.method === 'CONNECT' && e.client_pseudonym === p.pseudonyms.client('127.0.0.2'));
    expect(tunnel.bytes_down).toBeGreaterThan(0);
    expect(tunnel.bytes_down).toBeLessThan(INSTALLER.length);
    expect(ev.flags).toContain('executable');
  });

  it('a large download and a large upload inside an inspected tunnel arrive byte for byte', async () => {
    const down = await curl(`https://dl.test:${originPort}/big`);
    expect(down.status).toBe(200);
    expect(Buffer.from(down.body, 'latin1').equals(BIG)).toBe(true);
    const file = join(tmp.dir, 'big-upload.bin');
    writeFileSync(file, BIG);
    for (const framing of [[], ['-H', 'Transfer-Encoding: chunked']]) {
      const up = await run('curl', ['-sS', '--max-time', '30', '--proxy', `http://127.0.0.1:${proxyPort}`, '--cacert', files.org, ...framing, '--data-binary', `@${file}`, `https://dl.test:${originPort}/echo`], { timeout: 40_000 });
      expect(up.stdout).toBe(`${BIG.length} ${createHash('sha256').update(BIG).digest('hex')}`);
    }
    const ev = await eventWhere(sink, (e) => e.path === '/big' && e.host === 'dl.test');
    expect(ev).toMatchObject({ scheme: 'https', action: 'allow', status: 200 });
    expect(ev.bytes_down).toBeGreaterThanOrEqual(BIG.length);
  });

  it('inside an opened tunnel the URL lists apply to the full path; ordinary pages pass, certificate from the organisation CA', async () => {
    const blocked = await curl(`https://dl.test:${originPort}/casino/tables`);
    expect(blocked.status).toBe(403);
    expect(blocked.body).toContain('Gambling is never acceptable.');
    const ev = await eventWhere(sink, (e) => e.path === '/casino/tables');
    expect(ev).toMatchObject({ action: 'block', category: 'gambling', rule: 'rule:1', scheme: 'https' });
    const ok = await curl(`https://dl.test:${originPort}/readme`);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(`<h1>origin dl.test:${originPort} /readme</h1>`);
    const seen = await peerThroughTunnel('dl.test', originPort, orgCa.certPem);
    expect(seen.issuer).toContain('fairwatch block-page CA');
  });

  it('an allowed host that is not inspected is spliced untouched: the client sees the origin\'s own certificate', async () => {
    const seen = await peerThroughTunnel('plain.test', originPort, publicCa.certPem);
    expect(seen.fingerprint).toBe(originFingerprint('plain.test'));
    const r = await curl(`https://plain.test:${originPort}/setup.exe`, { ca: files.pub });
    expect(r.status).toBe(200);
    const tunnel = await eventWhere(sink, (e) => e.method === 'CONNECT' && e.host === 'plain.test');
    expect(tunnel.flags).not.toContain('inspected');
  });

  it('neverInspect wins: a bank, a configured host and a shipped health site that are also download sites stay untouched', async () => {
    for (const host of ['bank.test', 'safe.test', 'www.nhs.uk']) {
      const seen = await peerThroughTunnel(host, originPort, publicCa.certPem);
      expect(seen.fingerprint, host).toBe(originFingerprint(host));
      const tunnel = await eventWhere(sink, (e) => e.method === 'CONNECT' && e.host === host);
      expect(tunnel.flags).toContain('never-inspect');
    }
  });

  it('an origin with a certificate nobody vouches for gets a clear 502 page, never a silent connection', async () => {
    const r = await curl(`https://bad.test:${badPort}/readme`);
    expect(r.status).toBe(502);
    expect(r.body).toContain('certificate that cannot be trusted');
    const ev = await eventWhere(sink, (e) => e.host === 'bad.test' && e.method === 'GET');
    expect(ev.flags).toContain('upstream-cert');
  });

  it('a client that rejects the CA: its first inspected tunnel fails, later ones are spliced; counted in the metric and Redis', async () => {
    const before = await untrustedRejections();
    const first = await curl(`https://dl.test:${originPort}/readme`, { ca: files.pub, from: '127.0.0.3' });
    expect(first.code).toBe(60); // curl: peer certificate cannot be authenticated
    const tunnel = await eventWhere(sink, (e) => e.method === 'CONNECT' && e.flags.includes('ca-untrusted') && e.client_pseudonym === p.pseudonyms.client('127.0.0.3'));
    expect(tunnel.flags).toContain('inspected');
    expect(await untrustedRejections()).toBe(before + 1);
    const seenAt = Number(await p.redis.hget(UNTRUSTED_CA_KEY, p.pseudonyms.client('127.0.0.3')));
    expect(seenAt).toBeGreaterThan(0);
    // the next connection is spliced: the device reaches the site with the site's own certificate
    const second = await curl(`https://dl.test:${originPort}/readme`, { ca: files.pub, from: '127.0.0.3' });
    expect(second.status).toBe(200);
    const seen = await peerThroughTunnel('dl.test', originPort, publicCa.certPem, { from: '127.0.0.3' });
    expect(seen.fingerprint).toBe(originFingerprint('dl.test'));
    // another device is still inspected
    expect((await peerThroughTunnel('dl.test', originPort, orgCa.certPem)).issuer).toContain('fairwatch block-page CA');
  });

  it('without an organisation CA nothing is inspected', async () => {
    const seen = await peerThroughTunnel('dl.test', originPort, publicCa.certPem, { proxy: bare.port });
    expect(seen.fingerprint).toBe(originFingerprint('dl.test'));
    const r = await curl(`https://dl.test:${originPort}/setup.exe`, { ca: files.pub, port: bare.port });
    expect(r.status).toBe(200);
    const tunnel = await eventWhere(bare.sink, (e) => e.method === 'CONNECT' && e.host === 'dl.test');
    expect(tunnel.flags).not.toContain('inspected');
  });
});

describe('inspection settings', () => {
  it('policy.inspect / neverInspect are validated with errors naming the key', () => {
    expect(() => parseConfig('policy:\n  inspect: { hosts: ["not a host!"] }\n', 'x.yaml')).toThrow(/x\.yaml:2: policy\.inspect\.hosts\.0: "not a host!" is not a host name/);
    expect(() => parseConfig('policy:\n  neverInspect: { categories: ["../etc"] }\n', 'x.yaml')).toThrow(/policy\.neverInspect\.categories\.0/);
    expect(() => parseConfig('policy:\n  inspect: { catgories: [download] }\n', 'x.yaml')).toThrow(/catgories/);
    expect(() => parseConfig('proxy:\n  untrustedCaMinutes: 0\n', 'x.yaml')).toThrow(/proxy\.untrustedCaMinutes/);
    const d = parseConfig('', 'd.yaml');
    expect(d.policy.inspect).toEqual({ categories: ['download', 'filehosting'], hosts: [] });
    expect(d.policy.neverInspect).toEqual({ categories: ['bank'], hosts: [], healthList: true });
    expect(d.proxy.untrustedCaMinutes).toBe(60);
    expect(parseConfig('policy:\n  inspect: { hosts: ["*.Files.Example.ORG."] }\n', 'h.yaml').policy.inspect.hosts).toEqual(['files.example.org']);
  });

  it('an unreadable proxy.upstreamCaFile stops the proxy with the key named', () => {
    const config = parseConfig(`proxy:\n  upstreamCaFile: "${join(tmp.dir, 'missing.pem')}"\n`, 'u.yaml');
    expect(() => createProxyServer({ hooks: blockOnlyHooks, config, engine: () => ({ decide: () => ({ action: 'allow', category: '', rule: 'default', reason: '' }) }), sink: new MemorySink(), credentials: new CredentialStore([]), pseudonyms: p.pseudonyms }))
      .toThrow(/proxy\.upstreamCaFile: cannot read .*missing\.pem \(ENOENT\)/);
  });

  it('the transparency page says exactly what is opened and what never is', () => {
    const page = transparencyPage(siteFromConfig(p.config, 'http://127.0.0.1:9'), p.config).html;
    expect(page).toContain('Secure sites');
    expect(page).toMatch(/opened by the proxy with the organisation's own certificate[^<]*: Download and Filehosting\./);
    expect(page).toMatch(/Never opened, whatever else this page says: Bank, safe\.test and health and medical services/);
    expect(page).toContain('nhs.uk, nhs.net');
    expect(page).toContain('samaritans.org');
    expect(page).toContain('for 30 minutes at a time');
    const none = transparencyPage(siteFromConfig(p.config, 'http://127.0.0.1:9'), parseConfig('policy:\n  inspect: { categories: [] }\n', 'n.yaml')).html;
    expect(none).toContain('No secure (HTTPS) connection is opened');
    expect(none).not.toContain('opened by the proxy with');
  });
});
