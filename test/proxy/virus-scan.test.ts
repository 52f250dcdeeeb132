import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { MemorySink, type AccessEvent } from '../../core/events/event.ts';
import { aupSetKey } from '../../core/identity/aup.ts';
import { PageTokens } from '../../core/identity/page-token.ts';
import { registry } from '../../core/metrics.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import type { PolicyEngine } from '../../core/policy/types.ts';
import type { Platform } from '../../core/platform.ts';
import { createCa, type OrganisationCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import { ManagedClamd, newestSignature } from '../../proxy/managed-clamd.ts';
import type { LookupFn } from '../../proxy/resolve.ts';
import { createProxyServer, type ProxyServer } from '../../proxy/server.ts';
import { staffHooks } from '../../proxy/tls/staff-hooks.ts';
import { ClamdClient, parseClamdReply } from '../../proxy/virus-scan.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// Virus scanning against a real clamd (Debian's clamav-daemon) started here through the product's
// own ManagedClamd, on a unix socket in a temp directory, reading only a signature database this
// test writes (an .ndb body signature of a marker string): no download, nothing under /etc. Files
// go through the real proxy over plain HTTP and inside an inspected HTTPS tunnel, fetched by curl.
process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY = '1';

const run = promisify(execFile);
const tmp = tempDir('fw-scan-');
const MARKER = Buffer.from('FAIRWATCH-TEST-VIRUS-5d1e7b2a9c4f0836');
const SIGNATURE = 'Fairwatch.Test.Marker';
const withMarker = (size: number) => {
  const b = randomBytes(size);
  MARKER.copy(b, Math.floor(size / 2));
  return b;
};
const SMALL_INFECTED = withMarker(20_000);
const STREAMED_INFECTED = withMarker(1_500_000);
const CLEAN = randomBytes(1_500_000);
const HUGE_INFECTED = withMarker(3 * 1024 * 1024);

let p: Platform;
let cleanup: () => Promise<void>;
let clamd: ManagedClamd;
let origin: Server;
let tlsOrigin: Server;
let originPort: number;
let tlsPort: number;
let orgCa: OrganisationCa;
let orgPem: string;
const proxies: { allow?: { proxy: ProxyServer; port: number; sink: MemorySink }; block?: { proxy: ProxyServer; port: number; sink: MemorySink } } = {};
/** /slow: the first part is sent, then the origin waits for the test to let the rest go */
let slowGate: { reached: () => void; release: Promise<void> } | null = null;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  const file = (body: Buffer, name: string, chunked = false) => {
    const h: Record<string, string | number> = { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${name}"` };
    if (!chunked) h['content-length'] = body.length;
    res.writeHead(200, h);
    if (!chunked) return void res.end(body);
    // chunked and in pieces: no declared length, counted as it comes
    for (let i = 0; i < body.length; i += 65_536) res.write(body.subarray(i, i + 65_536));
    res.end();
  };
  if (path === '/infected.zip') file(SMALL_INFECTED, 'invoice.zip');
  else if (path === '/streamed-infected.zip') file(STREAMED_INFECTED, 'big.zip', true);
  else if (path === '/clean.zip') file(CLEAN, 'clean.zip');
  else if (path === '/clean-chunked.zip') file(CLEAN, 'clean.zip', true);
  else if (path === '/huge-infected.zip') file(HUGE_INFECTED, 'huge.zip');
  else if (path === '/huge-chunked.zip') file(HUGE_INFECTED, 'huge.zip', true);
  else if (path === '/slow.zip') {
    const gate = slowGate!;
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': 200_000 });
    res.write(CLEAN.subarray(0, 100_000), () => {
      gate.reached();
      void gate.release.then(() => res.end(CLEAN.subarray(100_000, 200_000)));
    });
  } else {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello');
  }
}

const lookup: LookupFn = (hostname, _o, cb) => {
  if (hostname.endsWith('.test')) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
};
const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

async function startClamd(): Promise<ManagedClamd> {
  return ManagedClamd.start(tmp.dir, { maxMB: 2, databaseDir: join(tmp.dir, 'db'), binary: 'clamd' });
}

beforeAll(async () => {
  mkdirSync(join(tmp.dir, 'db'));
  // an .ndb body signature: name, target type 0 (any file), offset * (anywhere), the bytes in hex
  writeFileSync(join(tmp.dir, 'db', 'fairwatch-test.ndb'), `${SIGNATURE}:0:*:${MARKER.toString('hex')}\n`);
  clamd = await startClamd();

  const lists = join(tmp.dir, 'lists');
  mkdirSync(join(lists, 'download'), { recursive: true });
  writeFileSync(join(lists, 'download', 'domains'), 'dl.test\n');
  origin = createHttpServer(serve);
  originPort = await listen(origin);
  const publicCa = createCa(join(tmp.dir, 'public'), { organisation: 'Public Test CA' });
  const publicMinter = new LeafMinter(publicCa, 50);
  tlsOrigin = createHttpsServer({ SNICallback: (name, cb) => cb(null, publicMinter.leafFor(name).context) }, serve);
  tlsPort = await listen(tlsOrigin);
  writeFileSync(join(tmp.dir, 'public.pem'), publicCa.certPem);

  const yaml = (onError: string) => `
proxy: { port: 0, allowDestinations: [127.0.0.1], ipTunnels: allow, connectPorts: [${tlsPort}], upstreamCaFile: "${join(tmp.dir, 'public.pem')}" }
identity: { ipUsers: { "127.0.0.1": alice } }
policy: { inspect: { categories: [download] } }
aup: { version: "3" }
scan: { enabled: true, clamd: "${clamd.socket}", maxMB: 2, holdKB: 256, onError: ${onError}, timeoutSeconds: 5 }
`;
  ({ platform: p, cleanup } = await openTestPlatform({ yaml: yaml('allow'), store: false }));
  await p.redis.sadd(aupSetKey('3'), p.pseudonyms.user('alice'));
  orgCa = createCa(join(tmp.dir, 'org'), { organisation: p.config.organisation.name });
  orgPem = join(tmp.dir, 'org.pem');
  writeFileSync(orgPem, orgCa.certPem);
  const snapshot = new PolicySnapshot(p.config.policy, p.config.organisation.timezone, await loadLists(lists));
  const engine: PolicyEngine = { decide: (i) => snapshot.decide(i), categoriesOf: (h) => snapshot.categoriesOf(h) };
  const minter = new LeafMinter(orgCa);
  const credentials = new CredentialStore([{ username: 'alice', passwordHash: 'x', group: 'staff', disabled: false }]);
  for (const mode of ['allow', 'block'] as const) {
    const config = parseConfig(yaml(mode), `${mode}.yaml`);
    const sink = new MemorySink();
    const hooks = staffHooks({ config, redis: p.redis, tokens: new PageTokens(Buffer.alloc(32, 1)), pseudonyms: p.pseudonyms, consoleUrl: () => 'http://127.0.0.1:9/', minter });
    const proxy = createProxyServer({ config, engine: () => engine, sink, credentials, pseudonyms: p.pseudonyms, lookup, hooks, inspection: { minter } });
    proxies[mode] = { proxy, sink, port: (await proxy.listen(0, '127.0.0.1')).port };
  }
}, 120_000);

afterAll(async () => {
  await proxies.allow?.proxy.close();
  await proxies.block?.proxy.close();
  origin?.closeAllConnections();
  origin?.close();
  tlsOrigin?.closeAllConnections();
  tlsOrigin?.close();
  await clamd?.stop();
  await cleanup?.();
  tmp.cleanup();
});

interface CurlResult { exit: number; status: number; body: Buffer; stderr: string }

async function curl(url: string, mode: 'allow' | 'block' = 'allow', limitRate?: string): Promise<CurlResult> {
  const out = join(tmp.dir, `body-${Math.random().toString(36).slice(2)}`);
  writeFileSync(out, '');
  const args = ['-sS', '--max-time', '30', '--proxy', `http://127.0.0.1:${proxies[mode]!.port}`, '--cacert', orgPem, '-o', out, '-w', '%{http_code}', ...(limitRate ? ['--limit-rate', limitRate] : []), url];
  try {
    const r = await run('curl', args, { timeout: 40_000, encoding: 'latin1' });
    return { exit: 0, status: Number(r.stdout), body: readFileSync(out), stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { exit: err.code ?? -1, status: Number(err.stdout ?? 0), body: readFileSync(out), stderr: err.stderr ?? '' };
  }
}

async function eventFor(mode: 'allow' | 'block', pred: (e: AccessEvent) => boolean): Promise<AccessEvent> {
  const sink = proxies[mode]!.sink;
  for (let i = 0; i < 500; i++) {
    const hit = sink.events.find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no such event among ${JSON.stringify(sink.events.map((e) => [e.method, e.host, e.path, e.action, e.rule, e.flags]))}`);
}

async function scans(outcome: string): Promise<number> {
  const m = await registry.getSingleMetric('fairwatch_virus_scans_total')!.get();
  return m.values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
}

describe('clamd replies', () => {
  it('reads OK, FOUND and ERROR answers', () => {
    expect(parseClamdReply('stream: OK\0')).toEqual({ kind: 'clean' });
    expect(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND\0')).toEqual({ kind: 'infected', signature: 'Win.Test.EICAR_HDB-1' });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR\0')).toMatchObject({ kind: 'error' });
  });

  it('the managed clamd answers VERSION, and its signature directory has a date', async () => {
    expect(await new ClamdClient(clamd.socket, 5000).version()).toMatch(/^ClamAV \d/);
    expect(newestSignature(join(tmp.dir, 'db'))).toBeInstanceOf(Date);
  });
});

describe('downloads through clamd', () => {
  it('an infected file over plain HTTP gets the block page naming the signature; the event says block / virus', async () => {
    const before = await scans('infected');
    const r = await curl(`http://files.test:${originPort}/infected.zip`);
    expect(r.status).toBe(403);
    const page = r.body.toString('utf8');
    expect(page).toContain(`${SIGNATURE}.UNOFFICIAL`);
    expect(page).toContain('Report a false positive');
    expect(r.body.includes(MARKER)).toBe(false);
    const ev = await eventFor('allow', (e) => e.path === '/infected.zip');
    expect(ev).toMatchObject({ action: 'block', rule: 'virus', filename: 'invoice.zip', status: 403, scheme: 'http' });
    expect(ev.flags).toContain(`virus:${SIGNATURE}.UNOFFICIAL`);
    expect(await scans('infected')).toBe(before + 1);
  });

  it('an infected file inside an inspected HTTPS tunnel is blocked the same way', async () => {
    const r = await curl(`https://dl.test:${tlsPort}/infected.zip`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(403);
    expect(r.body.toString('utf8')).toContain(`${SIGNATURE}.UNOFFICIAL`);
    const ev = await eventFor('allow', (e) => e.path === '/infected.zip' && e.scheme === 'https');
    expect(ev).toMatchObject({ action: 'block', rule: 'virus', filename: 'invoice.zip', host: 'dl.test' });
    expect(ev.flags).toContain(`virus:${SIGNATURE}.UNOFFICIAL`);
  });

  it('an infected file larger than the hold-back streams, but its end never arrives: the download fails', async () => {
    const r = await curl(`https://dl.test:${tlsPort}/streamed-infected.zip`);
    expect(r.exit).not.toBe(0);
    expect(r.body.length).toBeLessThan(STREAMED_INFECTED.length);
    const ev = await eventFor('allow', (e) => e.path === '/streamed-infected.zip');
    expect(ev).toMatchObject({ action: 'block', rule: 'virus', filename: 'big.zip' });
    expect(ev.flags).toContain(`virus:${SIGNATURE}.UNOFFICIAL`);
  });

  it('a clean file passes byte for byte, over HTTP and HTTPS', async () => {
    for (const url of [`http://files.test:${originPort}/clean.zip`, `https://dl.test:${tlsPort}/clean.zip`]) {
      const r = await curl(url);
      expect(r.status).toBe(200);
      expect(r.body.equals(CLEAN)).toBe(true);
    }
    const ev = await eventFor('allow', (e) => e.path === '/clean.zip' && e.scheme === 'https');
    expect(ev).toMatchObject({ action: 'allow', status: 200 });
    expect(ev.flags).toContain('virus-scanned');
  });

  it('a clean file reaches a slow client byte for byte in either framing (each chunk goes to clamd and the browser before its buffer is freed)', async () => {
    for (const path of ['/clean.zip', '/clean-chunked.zip']) {
      const r = await curl(`http://files.test:${originPort}${path}`, 'allow', '3M');
      expect(r.status).toBe(200);
      expect(r.body.equals(CLEAN)).toBe(true);
      const ev = await eventFor('allow', (e) => e.path === path && e.scheme === 'http');
      expect(ev.flags).toContain('virus-scanned');
    }
  });

  it('a file above scan.maxMB passes unscanned and flagged, by its declared length and as counted', async () => {
    for (const path of ['/huge-infected.zip', '/huge-chunked.zip']) {
      const r = await curl(`http://files.test:${originPort}${path}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(HUGE_INFECTED)).toBe(true);
      const ev = await eventFor('allow', (e) => e.path === path);
      expect(ev.action).toBe('allow');
      expect(ev.flags).toContain('unscanned');
    }
  });
});

describe('clamd failing', () => {
  async function killedMidStream(mode: 'allow' | 'block'): Promise<CurlResult> {
    let reached!: () => void;
    const atOrigin = new Promise<void>((r) => { reached = r; });
    let release!: () => void;
    slowGate = { reached, release: new Promise<void>((r) => { release = r; }) };
    const pending = curl(`http://files.test:${originPort}/slow.zip`, mode);
    await atOrigin;
    // clamd has the first part by now or soon: killing it leaves the scan without an answer
    const exited = new Promise<void>((r) => { const pid = clamd.pid!; const t = setInterval(() => { try { process.kill(pid, 0); } catch { clearInterval(t); r(); } }, 20); });
    clamd.kill();
    await exited;
    release();
    const r = await pending;
    await clamd.stop();
    clamd = await startClamd();
    return r;
  }

  it('scan.onError allow: clamd killed mid-stream, the file still arrives whole, flagged and counted', async () => {
    const before = await scans('error');
    const r = await killedMidStream('allow');
    expect(r.status).toBe(200);
    expect(r.body.equals(CLEAN.subarray(0, 200_000))).toBe(true);
    const ev = await eventFor('allow', (e) => e.path === '/slow.zip');
    expect(ev.action).toBe('allow');
    expect(ev.flags).toContain('scan-error');
    expect(await scans('error')).toBe(before + 1);
  });

  it('scan.onError block: clamd killed mid-stream, the browser gets the block page and the event says so', async () => {
    const r = await killedMidStream('block');
    expect(r.status).toBe(403);
    expect(r.body.toString('utf8')).toContain('could not check this file');
    const ev = await eventFor('block', (e) => e.path === '/slow.zip');
    expect(ev).toMatchObject({ action: 'block', rule: 'virus-scan-failed' });
    expect(ev.flags).toContain('scan-error');
  });

  it('clamd not running at all: answered at once per onError, nothing hangs', async () => {
    await clamd.stop();
    try {
      const allowed = await curl(`http://files.test:${originPort}/infected.zip`, 'allow');
      expect(allowed.status).toBe(200);
      expect(allowed.body.equals(SMALL_INFECTED)).toBe(true);
      const blocked = await curl(`http://files.test:${originPort}/clean.zip`, 'block');
      expect(blocked.status).toBe(403);
    } finally {
      clamd = await startClamd();
    }
  });
});

describe('the managed clamd is supervised', () => {
  it('killed as the OOM killer would, it is started again on the same socket, counted, and answers', async () => {
    const events: string[] = [];
    clamd.onEvent = (_level, message) => events.push(message);
    const restarts = async () => (await registry.getSingleMetric('fairwatch_clamd_restarts_total')!.get()).values.reduce((a, v) => a + v.value, 0);
    const before = await restarts();
    const oldPid = clamd.pid!;
    clamd.kill();
    // bounded: loading the test's one-signature database takes well under a second here
    const deadline = Date.now() + 60_000;
    let answered = '';
    while (Date.now() < deadline) {
      if (clamd.pid && clamd.pid !== oldPid && clamd.health().up) {
        answered = await new ClamdClient(clamd.socket, 5000).version().catch(() => '');
        if (answered) break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(answered).toMatch(/^ClamAV \d/);
    expect(await restarts()).toBe(before + 1);
    expect(clamd.health()).toMatchObject({ up: true, restarts: 1, restartsLastHour: 1 });
    expect(events).toEqual([expect.stringMatching(/died: restarting it/), 'managed clamd restarted']);
  });
});
