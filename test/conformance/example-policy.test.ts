import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../core/config/load.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { freePort } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// The example policy (fairwatch.example.yaml) through the real product: `fairwatch start` with a
// config derived from the example, and real clients (curl, and Chromium with manual proxy settings
// and no bypass list). For every rule, at a time inside each time band, and for every file rule, a
// request through the proxy checks what the person is shown and what is stored (action, rule,
// category, flags). The derived config differs from the example only in what a test machine needs:
// ports, a hosts file mapping the test names to 127.0.0.1, the organisation's time zone (chosen so
// that "now" falls inside the band under test), every day a working day, the lunch break widened to
// 12:00-14:00 (so no band edge is near), the quota made 1 minute (so it can be used up here), and
// the test origins' CA trusted for inspected tunnels (proxy.upstreamCaFile).
// The expected outcome is worked out from the example's rules in the test, independently of the
// engine. A new rule or policy clause in the example without a case here fails the suite.

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const ART = join(ROOT, 'test-artefacts', 'conformance');
mkdirSync(ART, { recursive: true });
const EXAMPLE = parse(readFileSync(join(ROOT, 'fairwatch.example.yaml'), 'utf8')) as {
  policy: { rules: Rule[]; defaultAction: string; groups: Record<string, { permissions?: string[] }>; softwareDownloads: { clause: string; extensions: string[] }; largeUploadMB: number; blockLargeUploads: boolean; inspect: { categories: string[] }; neverInspect: { categories: string[] }; [k: string]: unknown };
  [k: string]: unknown;
};
interface Rule { id: string; groups?: string[]; categories: string[]; bands?: Band[]; action: string; clause: string; quotaMinutesPerDay?: number; continueMinutes?: number }
type Band = 'working' | 'break' | 'out-of-hours';
const BANDS: Band[] = ['working', 'break', 'out-of-hours'];
const BAND_HOUR: Record<Band, number> = { working: 10, break: 13, 'out-of-hours': 20 };
const PASSWORD = 'a long conformance password';

/**
 * The policy keys the cases below cover (urlMatching: how list entries match, which the squidGuard
 * differential test covers entry by entry; safeSearch: off in the example, and covered through the
 * proxy engine by engine in test/proxy/safe-search.test.ts; alerts: the case at the end, and the
 * console, mail and roles in test/alerts/live.test.ts). A key added to the example must be added
 * here with a case.
 */
const COVERED_POLICY_KEYS = new Set(['groups', 'defaultGroup', 'time', 'categoryLabels', 'rules', 'defaultAction', 'defaultClause', 'localDenyClause', 'localAllowClause', 'softwareDownloads', 'largeUploadMB', 'blockLargeUploads', 'urlMatching', 'inspect', 'neverInspect', 'safeSearch', 'alerts']);

const host = (category: string) => `${category.replace(/_/g, '-')}.site.test`;
const inspected = EXAMPLE.policy.inspect.categories[0]!;
const neverOpened = EXAMPLE.policy.neverInspect.categories[0]!;
const categories = [...new Set([...EXAMPLE.policy.rules.flatMap((r) => r.categories), inspected, neverOpened])];

/** What the example's rules say for a group, a category and a band: the first rule that names all three. */
function expected(group: string, category: string, band: Band): { action: string; rule: string; clause: string } {
  for (const r of EXAMPLE.policy.rules) {
    const groups = r.groups ?? ['*'];
    if ((groups.includes('*') || groups.includes(group)) && r.categories.includes(category) && (r.bands ?? BANDS).includes(band)) {
      return { action: r.action, rule: `rule:${r.id}`, clause: r.clause };
    }
  }
  return { action: EXAMPLE.policy.defaultAction, rule: 'default', clause: String(EXAMPLE.policy.defaultClause) };
}

/** An Etc/GMT zone in which the local hour is now `hour`. */
function zoneForHour(hour: number, now = new Date()): string {
  let o = ((hour - now.getUTCHours()) % 24 + 24) % 24;
  if (o > 14) o -= 24;
  return o === 0 ? 'Etc/GMT' : `Etc/GMT${o > 0 ? '-' : '+'}${Math.abs(o)}`;
}

const localDay = (zone: string) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());

// ---- the world the proxy browses: origins, lists, names ---------------------------------------

const tmp = tempDir('fw-conformance-');
const dataDir = join(tmp.dir, 'data');
const lists = join(tmp.dir, 'blocklists');
const hostsFile = join(tmp.dir, 'hosts');
const MZ = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(4096, 1)]);

function origin(req: IncomingMessage, res: ServerResponse): void {
  const name = (req.headers.host ?? '').split(':')[0]!;
  const path = (req.url ?? '/').split('?')[0];
  let size = 0;
  req.on('data', (c: Buffer) => { size += c.length; });
  req.on('end', () => {
    if (path === '/files/setup.exe') return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': MZ.length }).end(MZ);
    if (path === '/get') return void res.writeHead(200, { 'content-type': 'application/x-msdownload', 'content-length': 4 }).end('MZ!!');
    if (path === '/blob') return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': MZ.length }).end(MZ);
    if (path === '/report.pdf') return void res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.4');
    if (path === '/upload') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(`received ${size}`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>${name}</title></head><body><h1>Welcome to ${name}</h1></body></html>`);
  });
}

let http: Server;
let https: Server;
let httpPort: number;
let httpsPort: number;
let proxyPort: number;
let consolePort: number;
let orgCaPem: string;
let publicCaPem: string;
const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

function env(): NodeJS.ProcessEnv {
  return { ...process.env, FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: join(tmp.dir, 'fairwatch.yaml'), FAIRWATCH_BLOCKLISTS: lists, FAIRWATCH_DIAL_LOOPBACK_ONLY: '1', FAIRWATCH_LOG_LEVEL: 'warn' };
}

/** The example with only the test machine's differences (see the header). */
function derivedConfig(band: Band): { yaml: string; zone: string } {
  const zone = zoneForHour(BAND_HOUR[band]);
  const doc = structuredClone(EXAMPLE) as unknown as Record<string, Record<string, unknown>> & { policy: { time: Record<string, unknown>; rules: Rule[] } };
  doc.organisation = { ...doc.organisation, timezone: zone };
  doc.proxy = { ...doc.proxy, port: proxyPort, allowDestinations: ['127.0.0.1'], connectPorts: [443, httpsPort], hostsFile, upstreamCaFile: join(tmp.dir, 'public-ca.pem') };
  doc.console = { ...doc.console, port: consolePort, publicUrl: `http://fairwatch-console.test:${consolePort}` };
  doc.policy.time = { ...doc.policy.time, workingDays: [1, 2, 3, 4, 5, 6, 7], bankHolidays: [], breaks: [{ start: '12:00', end: '14:00' }] };
  doc.policy.rules = doc.policy.rules.map((r: Rule) => (r.action === 'quota' ? { ...r, quotaMinutesPerDay: 1 } : r));
  const yaml = stringify(doc);
  parseConfig(yaml, 'derived.yaml'); // the derived file must be a valid config
  return { yaml, zone };
}

beforeAll(async () => {
  // lists: one test host per category the example's rules name, plus the organisation's own lists
  for (const c of categories) {
    mkdirSync(join(lists, c), { recursive: true });
    writeFileSync(join(lists, c, 'domains'), `${host(c)}\n`);
  }
  mkdirSync(join(lists, 'local'), { recursive: true });
  writeFileSync(join(lists, 'local', 'deny'), 'denied.site.test\n');
  // allowed locally although also in a blocked category: local/allow wins over the rules
  writeFileSync(join(lists, 'local', 'allow'), 'allowed.site.test\n');
  writeFileSync(join(lists, 'adult', 'domains'), `${host('adult')}\nallowed.site.test\n`);
  const names = ['fairwatch-console.test', 'plain.site.test', 'denied.site.test', 'allowed.site.test', ...categories.map(host)];
  writeFileSync(hostsFile, names.map((n) => `127.0.0.1 ${n}`).join('\n') + '\n');

  http = createHttpServer(origin);
  httpPort = await listen(http);
  const publicCa = createCa(join(tmp.dir, 'public-ca'), { organisation: 'Public Test CA' });
  publicCaPem = publicCa.certPem;
  writeFileSync(join(tmp.dir, 'public-ca.pem'), publicCaPem);
  const minter = new LeafMinter(publicCa, 4);
  const leaf = minter.leafFor('plain.site.test');
  // a certificate for whichever test name the client asks for
  https = createHttpsServer({ key: leaf.keyPem, cert: leaf.certPem + publicCa.certPem, SNICallback: (name, cb) => cb(null, minter.leafFor(name).context) }, origin) as unknown as Server;
  httpsPort = await listen(https);
  proxyPort = await freePort();
  consolePort = await freePort();

  writeFileSync(join(tmp.dir, 'fairwatch.yaml'), derivedConfig('working').yaml);
  for (const [user, group] of [['alice', 'staff'], ['ian', 'it'], ['bob', 'staff']] as const) {
    const r = await runCli(['users', 'add', '--username', user, '--role', 'staff', '--group', group, '--password-stdin'], { env: env(), stdin: `${PASSWORD}\n` });
    expect(r.code, r.stderr).toBe(0);
  }
  expect((await runCli(['ca', 'init'], { env: env() })).code).toBe(0);
  orgCaPem = readFileSync(join(dataDir, 'ca', 'ca.crt'), 'utf8');
  writeFileSync(join(tmp.dir, 'org-ca.pem'), orgCaPem);
}, 120_000);

afterAll(async () => {
  http?.close();
  https?.close();
  tmp.cleanup();
});

// ---- clients -------------------------------------------------------------------------------------

interface Answer { status: number; body: string; code: number; location: string }

async function curl(user: string, url: string, extra: string[] = []): Promise<Answer> {
  try {
    const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-x', `http://127.0.0.1:${proxyPort}`, '-U', `${user}:${PASSWORD}`, '-w', '\n%{redirect_url}\n%{http_code}', ...extra, url], { maxBuffer: 64 * 1024 * 1024 });
    return answer(stdout, 0);
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    return answer(err.stdout ?? '', err.code ?? -1);
  }
}

function answer(out: string, code: number): Answer {
  const i = out.lastIndexOf('\n');
  const j = out.lastIndexOf('\n', i - 1);
  return { status: Number(out.slice(i + 1)) || 0, location: j >= 0 ? out.slice(j + 1, i) : '', body: j >= 0 ? out.slice(0, j) : '', code };
}

const site = (name: string, path = '/') => `http://${name}:${httpPort}${path}`;
const secure = (name: string, path = '/') => `https://${name}:${httpsPort}${path}`;
const escaped = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Starts the product, runs `body`, waits for the events to be stored, stops it, returns them. */
async function withFairwatch(band: Band, body: (zone: string) => Promise<number>): Promise<AccessEvent[]> {
  const { yaml, zone } = derivedConfig(band);
  writeFileSync(join(tmp.dir, 'fairwatch.yaml'), yaml);
  const from = new Date(Date.now() - 1000);
  const server = startCli(['start'], { env: env(), timeoutMs: 150_000 });
  await server.ready;
  let requests = 0;
  try {
    requests = await body(zone);
    // every request is stored before the product is stopped (bounded)
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await runCli(['events', 'count', '--from', from.toISOString(), '--to', new Date(Date.now() + 60_000).toISOString(), '--json'], { env: env() });
      const n = Number((JSON.parse(r.stdout || '{}') as { events?: number }).events ?? 0);
      if (n >= requests || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 500));
    }
  } finally {
    expect(await server.stop('SIGTERM')).toBe(0);
  }
  const { platform } = await openTestPlatform({ dataDir, redis: false, yaml });
  try {
    const rows = await platform.store.rows<AccessEvent & { flags: string[] }>(
      `SELECT * FROM ${platform.store.database}.events WHERE ts >= {from:DateTime64(3)} ORDER BY ts`, { from: from.toISOString().replace('T', ' ').replace('Z', '') });
    return rows;
  } finally {
    await platform.close();
  }
}

function find(events: AccessEvent[], pred: (e: AccessEvent) => boolean, what: string): AccessEvent {
  const e = events.find(pred);
  expect(e, `no stored event for ${what}`).toBeDefined();
  return e!;
}

// ---- the suite -------------------------------------------------------------------------------------

const quotaDays = new Set<string>();
const exercised = new Set<string>();

describe('the example policy through the real proxy', () => {
  it('has a case for every policy clause and file rule in the example', () => {
    const unknown = Object.keys(EXAMPLE.policy).filter((k) => !COVERED_POLICY_KEYS.has(k));
    expect(unknown, 'a policy key in fairwatch.example.yaml has no conformance case').toEqual([]);
    expect(EXAMPLE.policy.rules.every((r) => typeof r.id === 'string')).toBe(true);
  });

  it('working hours, in Chromium with manual proxy settings and no bypass list: the statement, a block page, a warning, HTTPS, a download', async () => {
    const events = await withFairwatch('working', async () => {
      let n = 0;
      for (const [user, file] of [['alice', 'staff'], ['ian', 'it'], ['bob', 'staff-curl']] as const) {
        const browser: Browser = await chromium.launch({
          executablePath: '/usr/bin/chromium',
          args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
            `--ignore-certificate-errors-spki-list=${spki(orgCaPem)},${spki(publicCaPem)}`],
          proxy: { server: `http://127.0.0.1:${proxyPort}`, username: user, password: PASSWORD },
        });
        try {
          for (const viewport of user === 'alice' ? [{ width: 1280, height: 900 }, { width: 390, height: 844 }] : [{ width: 1280, height: 900 }]) {
            const ctx = await browser.newContext({ viewport, acceptDownloads: false });
            const page: Page = await ctx.newPage();
            page.setDefaultTimeout(15_000);
            const tag = `${file}-${viewport.width}`;
            // first visit: the statement on the console, reached through the proxy, then the site
            await page.goto(site('plain.site.test', '/start'));
            n++;
            if (new URL(page.url()).pathname === '/aup') {
              await page.getByRole('heading', { name: 'Acceptable-use statement' }).waitFor();
              await shot(page, `aup-${tag}`);
              await page.getByRole('button', { name: 'I accept' }).click();
              await page.getByRole('link', { name: 'Continue to the site' }).click();
              n += 3;
            }
            await page.getByRole('heading', { name: 'Welcome to plain.site.test' }).waitFor();
            n++;
            if (user === 'alice') {
              // the proxy's own page: where the console is, and the organisation's certificate
              await page.goto('http://fairwatch.internal/');
              n++;
              await page.getByRole('heading', { name: /web proxy/ }).waitFor();
              expect(await page.getByRole('link', { name: "The organisation's certificate" }).getAttribute('href')).toBe('/ca.crt');
              await shot(page, `proxy-home-${tag}`);
              await page.goto(site(host('adult')));
              n++;
              await page.getByRole('heading', { name: 'This site is blocked' }).waitFor();
              expect(await page.content()).toContain(escaped(expected('staff', 'adult', 'working').clause));
              await shot(page, `block-${tag}`);
              await page.goto(secure(host('gambling')));
              n++;
              await page.getByRole('heading', { name: 'This site is blocked' }).waitFor();
              await shot(page, `block-https-${tag}`);
              if (viewport.width > 1000) {
                // continuing allows the category for a while: the phone-sized visit below goes straight through
                await page.goto(site(host('audio-video'), '/watch'));
                n++;
                await page.getByRole('heading', { name: 'Before you continue' }).waitFor();
                await shot(page, `warn-${tag}`);
                await page.getByRole('link', { name: /continue/i }).first().click();
                n += 2;
              } else {
                await page.goto(site(host('audio-video'), '/again'));
                n++;
              }
              await page.getByRole('heading', { name: `Welcome to ${host('audio-video')}` }).waitFor();
              await page.goto(site('plain.site.test', '/files/setup.exe')).catch(() => null);
              n++;
              await page.getByRole('heading', { name: 'This site is blocked' }).waitFor();
              expect(await page.content()).toContain(escaped(EXAMPLE.policy.softwareDownloads.clause));
              await shot(page, `software-${tag}`);
            }
            await ctx.close();
          }
        } finally {
          await browser.close();
        }
      }
      return n;
    });
    const blocked = find(events, (e) => e.host === host('adult'), 'the blocked site');
    expect(blocked).toMatchObject({ action: 'block', rule: expected('staff', 'adult', 'working').rule, category: 'adult', status: 403 });
    expect(find(events, (e) => e.host === host('gambling') && e.method === 'CONNECT', 'the HTTPS block')).toMatchObject({ action: 'block', category: 'gambling' });
    expect(find(events, (e) => e.host === host('audio-video') && e.action === 'warn', 'the warning')).toMatchObject({ rule: expected('staff', 'audio-video', 'working').rule });
    expect(find(events, (e) => e.host === host('audio-video') && e.action === 'continue', 'the continue')).toBeDefined();
    const software = find(events, (e) => e.path === '/files/setup.exe', 'the installer');
    expect(software).toMatchObject({ action: 'block', rule: 'software-download' });
    expect(software.flags).toContain('executable');
    // the console's own pages went through the proxy as fairwatch's pages, not through the gate
    expect(events.some((e) => e.host === 'fairwatch-console.test' && e.rule === 'fairwatch-page')).toBe(true);
    expect(events.some((e) => e.host === 'fairwatch-console.test' && e.action === 'aup')).toBe(false);
    expect(events.some((e) => e.host === 'fairwatch.internal' && e.rule === 'proxy-page' && e.status === 200)).toBe(true);
    exercised.add('aup');
  }, 300_000);

  for (const band of BANDS) {
    it(`${band}: every rule, the organisation's lists, the default and the file rules, by curl over HTTP and HTTPS`, async () => {
      const cases: { name: string; user: string; url: string; extra?: string[]; check: (a: Answer) => void; event: (events: AccessEvent[]) => void }[] = [];
      let zoneDay = '';
      for (const r of EXAMPLE.policy.rules) {
        const category = r.categories[0]!;
        const exp = expected('staff', category, band);
        const name = host(category);
        exercised.add(r.id);
        if (exp.action === 'quota') continue; // below: it depends on what was used today
        cases.push({
          name: `${category} (${exp.rule})`, user: 'bob', url: site(name, '/page'),
          check: (a) => {
            if (exp.action === 'block') {
              expect(a.status).toBe(403);
              expect(a.body).toContain(escaped(exp.clause));
            } else if (exp.action === 'warn') {
              expect(a.status).toBe(200);
              expect(a.body).toMatch(/Before you continue/);
              expect(a.body).toContain(escaped(exp.clause));
            } else {
              expect(a.status).toBe(200);
              expect(a.body).toContain(`Welcome to ${name}`);
            }
          },
          event: (events) => expect(find(events, (e) => e.host === name && e.path === '/page', name)).toMatchObject({ action: exp.action, rule: exp.rule, category }),
        });
        if (exp.action === 'block') {
          // HTTPS: with the organisation CA trusted the page shows; without, the browser only fails, and either way it is recorded
          cases.push({
            name: `${category} over HTTPS`, user: 'bob', url: secure(name, '/x'), extra: ['--cacert', join(tmp.dir, 'org-ca.pem')],
            check: (a) => { expect(a.status).toBe(403); expect(a.body).toContain(escaped(exp.clause)); },
            event: (events) => expect(find(events, (e) => e.host === name && e.method === 'CONNECT', `CONNECT ${name}`)).toMatchObject({ action: 'block', rule: exp.rule }),
          });
          cases.push({
            name: `${category} over HTTPS, CA not trusted`, user: 'bob', url: secure(name, '/y'), extra: ['--cacert', join(tmp.dir, 'public-ca.pem')],
            check: (a) => expect(a.code).toBe(60),
            event: () => undefined,
          });
        }
      }
      cases.push({
        name: 'local deny', user: 'bob', url: site('denied.site.test'),
        check: (a) => { expect(a.status).toBe(403); expect(a.body).toContain(escaped(String(EXAMPLE.policy.localDenyClause))); },
        event: (events) => expect(find(events, (e) => e.host === 'denied.site.test', 'local deny')).toMatchObject({ action: 'block', rule: 'local-deny' }),
      });
      cases.push({
        name: 'local allow beats a blocked category', user: 'bob', url: site('allowed.site.test'),
        check: (a) => { expect(a.status).toBe(200); expect(a.body).toContain('Welcome to allowed.site.test'); },
        event: (events) => expect(find(events, (e) => e.host === 'allowed.site.test', 'local allow')).toMatchObject({ action: 'allow', rule: 'local-allow' }),
      });
      cases.push({
        name: 'default', user: 'bob', url: site('plain.site.test', '/report.pdf'),
        check: (a) => expect(a.status).toBe(200),
        event: (events) => expect(find(events, (e) => e.host === 'plain.site.test' && e.path === '/report.pdf', 'default')).toMatchObject({ action: EXAMPLE.policy.defaultAction, rule: 'default', filename: 'report.pdf' }),
      });
      // software: by extension, by Content-Type, by the executable's first bytes; IT may
      for (const [path, why] of [['/files/setup.exe', 'extension'], ['/get', 'content type'], ['/blob', 'MZ header']] as const) {
        cases.push({
          name: `software by ${why} (staff)`, user: 'bob', url: site('plain.site.test', path),
          check: (a) => { expect(a.status).toBe(403); expect(a.body).toContain(escaped(EXAMPLE.policy.softwareDownloads.clause)); },
          event: (events) => {
            const e = find(events, (x) => x.path === path && x.status === 403, `software ${why}`);
            expect(e).toMatchObject({ action: 'block', rule: 'software-download' });
            expect(e.flags).toContain('executable');
          },
        });
        cases.push({
          name: `software by ${why} (it, permitted)`, user: 'ian', url: site('plain.site.test', path),
          check: (a) => expect(a.status).toBe(200),
          event: (events) => {
            const e = find(events, (x) => x.path === path && x.status === 200, `software ${why} for it`);
            expect(e.action).not.toBe('block');
            expect(e.flags).toContain('executable');
          },
        });
      }
      exercised.add('softwareDownloads');
      // HTTPS inspection: an installer from an inspected category is refused inside the tunnel; a
      // never-inspected category passes untouched (the client sees the site's own certificate)
      cases.push({
        name: `software over HTTPS from ${inspected} (inspected)`, user: 'bob', url: secure(host(inspected), '/files/setup.exe'), extra: ['--cacert', join(tmp.dir, 'org-ca.pem')],
        check: (a) => { expect(a.status).toBe(403); expect(a.body).toContain(escaped(EXAMPLE.policy.softwareDownloads.clause)); },
        event: (events) => {
          const e = find(events, (x) => x.host === host(inspected) && x.path === '/files/setup.exe', 'the inspected installer');
          expect(e).toMatchObject({ scheme: 'https', action: 'block', rule: 'software-download' });
          expect(e.flags).toContain('executable');
          expect(find(events, (x) => x.host === host(inspected) && x.method === 'CONNECT', 'the inspected tunnel').flags).toContain('inspected');
        },
      });
      cases.push({
        name: `${neverOpened} is never opened`, user: 'bob', url: secure(host(neverOpened), '/files/setup.exe'), extra: ['--cacert', join(tmp.dir, 'public-ca.pem')],
        check: (a) => { expect(a.code).toBe(0); expect(a.status).toBe(200); },
        event: (events) => {
          const e = find(events, (x) => x.host === host(neverOpened) && x.method === 'CONNECT', 'the bank tunnel');
          expect(e.flags).not.toContain('inspected');
          expect(events.some((x) => x.host === host(neverOpened) && x.method === 'GET')).toBe(false);
        },
      });
      exercised.add('inspect');
      // large upload: flagged (the example does not block)
      const bigFile = join(tmp.dir, 'big.bin');
      writeFileSync(bigFile, Buffer.alloc(Math.ceil((EXAMPLE.policy.largeUploadMB + 1) * 1024 * 1024), 3));
      cases.push({
        name: 'large upload', user: 'bob', url: site('plain.site.test', '/upload'), extra: ['--data-binary', `@${bigFile}`],
        check: (a) => expect(a.status).toBe(EXAMPLE.policy.blockLargeUploads ? 413 : 200),
        event: (events) => expect(find(events, (e) => e.path === '/upload', 'upload').flags).toContain('large-upload'),
      });
      exercised.add('largeUploadMB');
      // a site by bare IP address skips the category lists: the example refuses it (proxy.ipTunnels),
      // over HTTPS (the tunnel) and plain HTTP alike, with the reason stored
      cases.push({
        name: 'HTTPS to a bare IP address', user: 'bob', url: `https://127.0.0.1:${httpsPort}/`, extra: ['--cacert', join(tmp.dir, 'public-ca.pem')],
        check: (a) => expect(a.code).not.toBe(0),
        event: (events) => {
          const e = find(events, (x) => x.host === '127.0.0.1' && x.method === 'CONNECT', 'the bare-IP tunnel');
          expect(e).toMatchObject({ status: 403, action: 'block', rule: 'proxy.ipTunnels' });
          expect(e.flags).toContain('ip-tunnel');
        },
      });
      cases.push({
        name: 'HTTP to a bare IP address (hex spelling)', user: 'bob', url: `http://0x7f.1:${httpPort}/page`,
        check: (a) => { expect(a.status).toBe(403); expect(a.body).toMatch(/not by a bare IP address/); },
        event: (events) => {
          const e = find(events, (x) => x.host === '127.0.0.1' && x.method === 'GET' && x.path === '/page', 'the bare-IP request');
          expect(e).toMatchObject({ status: 403, action: 'block', rule: 'proxy.ipTunnels' });
          expect(e.flags).toContain('ip-tunnel');
        },
      });

      const answers = new Map<string, Answer>();
      const quota = EXAMPLE.policy.rules.find((r) => r.action === 'quota' && (r.bands ?? BANDS).includes(band));
      const quotaAnswers: number[] = [];
      const events = await withFairwatch(band, async (zone) => {
        zoneDay = localDay(zone);
        let n = 0;
        for (const c of cases) {
          answers.set(c.name, await curl(c.user, c.url, c.extra));
          n++;
        }
        if (quota) {
          // a minute of use is counted across both workers; once it is used, the block page says so
          for (let i = 0; i < 40; i++) {
            const a = await curl('bob', site(host(quota.categories[0]!), `/q${i}`));
            quotaAnswers.push(a.status);
            n++;
            if (a.status === 403) {
              expect(a.body).toMatch(/used up; they start again at midnight/);
              break;
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        return n;
      });
      for (const c of cases) {
        const a = answers.get(c.name)!;
        try {
          c.check(a);
          c.event(events);
        } catch (e) {
          throw new Error(`${band}: ${c.name}: ${(e as Error).message}\n${a.location}\n${a.body.slice(0, 400)}`);
        }
      }
      if (quota) {
        // the first visit of a day is allowed and counted; the quota then runs out (1 minute here)
        expect(quotaAnswers[0]).toBe(quotaDays.has(zoneDay) ? 403 : 200);
        expect(quotaAnswers.at(-1)).toBe(403);
        quotaDays.add(zoneDay);
        const stored = events.filter((e) => e.host === host(quota.categories[0]!));
        if (quotaAnswers[0] === 200) expect(stored[0]).toMatchObject({ action: 'quota', rule: `rule:${quota.id}` });
        expect(stored.at(-1)).toMatchObject({ action: 'block', rule: `rule:${quota.id}` });
      }
    }, 300_000);
  }

  it('alerts: one person\'s blocked attempts in an alerted category up to the hourly threshold raise an alert; another\'s fewer do not', async () => {
    const alerts = EXAMPLE.policy.alerts as { categories: string[]; perHour: number; perDay: number };
    // an alerted category the example blocks and no other case here visits
    const category = alerts.categories.find((c) => c !== 'adult' && expected('staff', c, 'working').action === 'block' && categories.includes(c))!;
    expect(category, 'the example blocks none of its alerted categories').toBeDefined();
    // not across an hour boundary, so the attempts share one window (the expectation below is still worked out from the stored events)
    const toNextHour = 3_600_000 - (Date.now() % 3_600_000);
    if (toNextHour < 60_000) await new Promise((r) => setTimeout(r, toNextHour + 1000));
    const events = await withFairwatch('working', async () => {
      let n = 0;
      for (const [user, times] of [['bob', alerts.perHour], ['ian', alerts.perHour - 1]] as const) {
        for (let i = 0; i < times; i++) {
          expect((await curl(user, site(host(category), `/alert-${user}-${i}`))).status).toBe(403);
          n++;
        }
      }
      return n;
    });
    const { platform } = await openTestPlatform({ dataDir, redis: false, yaml: derivedConfig('working').yaml });
    try {
      const stored = await platform.store.rows<{ user_pseudonym: string; category: string; period_kind: string; attempts: number }>(
        `SELECT user_pseudonym, category, period_kind, max(attempts) AS attempts FROM ${platform.store.database}.alerts WHERE category = {c:String} GROUP BY alert_id, user_pseudonym, category, period_kind`, { c: category });
      const bob = platform.pseudonyms.user('bob');
      const ian = platform.pseudonyms.user('ian');
      const perHour = (who: string) => {
        const byHour = new Map<number, number>();
        for (const e of events.filter((x) => x.user_pseudonym === who && x.category === category && x.action === 'block')) {
          const h = Math.floor(Date.parse(String(e.ts).replace(' ', 'T') + (String(e.ts).endsWith('Z') ? '' : 'Z')) / 3_600_000);
          byHour.set(h, (byHour.get(h) ?? 0) + 1);
        }
        return Math.max(0, ...byHour.values());
      };
      expect(perHour(bob)).toBe(alerts.perHour);
      expect(stored.filter((a) => a.user_pseudonym === bob && a.period_kind === 'hour')).toEqual([{ user_pseudonym: bob, category, period_kind: 'hour', attempts: alerts.perHour }]);
      expect(stored.filter((a) => a.user_pseudonym === ian)).toEqual([]);
      // the day threshold is not reached by these
      expect(stored.filter((a) => a.period_kind === 'day')).toEqual([]);
    } finally {
      await platform.close();
    }
  }, 300_000);

  it('every rule of the example was exercised', () => {
    expect([...EXAMPLE.policy.rules.map((r) => r.id)].filter((id) => !exercised.has(id))).toEqual([]);
  });
});

function spki(certPem: string): string {
  const key = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(key).digest('base64');
}

async function shot(page: Page, name: string): Promise<void> {
  const file = join(ART, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  expect(statSync(file).size).toBeGreaterThan(5000);
}
