import { execFile } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generate } from 'otplib';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startSmtpSink } from '../privacy/smtp-sink.ts';

// Alerts through the real product: `fairwatch start` (proxy workers → Redis stream → ingester →
// embedded ClickHouse → console), curl as the staff browsers, a local SMTP server for the mail, the
// console's JSON API and Chromium for the pages. The threshold is 3 blocked attempts in an hour:
// two people with 2 each raise nothing (counts are per person), a third attempt by one raises one
// alert, a mail without name, pseudonym or site goes out once, and a director turns it into an
// investigation of that person.

const run = promisify(execFile);
const SHOTS = '/work/notes/shots';
const PASSWORD = 'a long alerts test password';
const XSS = '<script>alert(1)</script>';
const tmp = tempDir('fw-alerts-');
const dataDir = join(tmp.dir, 'data');
const lists = join(tmp.dir, 'blocklists');
let proxyPort = 0;
let consolePort = 0;
let originPort = 0;
let origin: Server;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
let server: ReturnType<typeof startCli> | null = null;
const totp: Record<string, string> = {};
const env = () => ({ ...process.env, FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: join(tmp.dir, 'fairwatch.yaml'), FAIRWATCH_BLOCKLISTS: lists, FAIRWATCH_DIAL_LOOPBACK_ONLY: '1', FAIRWATCH_LOG_LEVEL: 'warn' });
const consoleUrl = () => `http://127.0.0.1:${consolePort}`;

async function curl(user: string, url: string): Promise<number> {
  try {
    const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}', '-x', `http://127.0.0.1:${proxyPort}`, '-U', `${user}:${PASSWORD}`, url]);
    return Number(stdout);
  } catch (e) {
    return Number((e as { stdout?: string }).stdout ?? 0);
  }
}

/** The acceptable-use statement, accepted as a browser would: the proxy's redirect, then the console's form. */
async function acceptAup(user: string): Promise<void> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{redirect_url}', '-x', `http://127.0.0.1:${proxyPort}`, '-U', `${user}:${PASSWORD}`, 'http://plain.site.test/']);
  const to = new URL(stdout.trim());
  expect(to.pathname).toBe('/aup');
  const res = await fetch(`${consoleUrl()}/aup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: consoleUrl() }, body: new URLSearchParams({ t: to.searchParams.get('t')!, return: to.searchParams.get('return') ?? '' }).toString() });
  expect(res.status).toBe(200);
}

interface Session { cookie: string; csrf: string }
async function signIn(user: string): Promise<Session> {
  const res = await fetch(`${consoleUrl()}/api/session`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin: consoleUrl() },
    body: JSON.stringify({ username: user, password: PASSWORD, totp: totp[user] ? await generate({ secret: totp[user] }) : '' }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: ((await res.json()) as { csrf: string }).csrf };
}

async function call(s: Session | null, method: string, path: string, body?: { json?: unknown; form?: Record<string, string> }, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { ...(s ? { cookie: s.cookie } : {}), ...(method !== 'GET' ? { origin: consoleUrl() } : {}) };
  let payload: string | undefined;
  if (body?.json !== undefined) { h['content-type'] = 'application/json'; payload = JSON.stringify(body.json); }
  if (body?.form) { h['content-type'] = 'application/x-www-form-urlencoded'; payload = new URLSearchParams(body.form).toString(); }
  const res = await fetch(`${consoleUrl()}${path}`, { method, headers: { ...h, ...headers }, body: payload, redirect: 'manual' });
  return { status: res.status, text: await res.text(), location: res.headers.get('location') ?? '' };
}

interface ApiAlert { id: string; pseudonym: string; category: string; category_label: string; period: string; attempts: number; threshold: number; status: string; investigation_id: string | null; first_seen: string; last_seen: string }
const alertsOf = async (s: Session) => JSON.parse((await call(s, 'GET', '/api/alerts')).text) as { alerts: ApiAlert[]; open: number };

beforeAll(async () => {
  for (const [c, hostName] of [['adult', 'adult.site.test'], ['phishing', 'phish.site.test'], ['gambling', 'bet.site.test']] as const) {
    mkdirSync(join(lists, c), { recursive: true });
    writeFileSync(join(lists, c, 'domains'), `${hostName}\n`);
  }
  mkdirSync(join(lists, 'local'), { recursive: true });
  writeFileSync(join(tmp.dir, 'hosts'), ['plain.site.test', 'adult.site.test', 'phish.site.test', 'bet.site.test'].map((n) => `127.0.0.1 ${n}`).join('\n') + '\n');
  origin = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1>Welcome to ${req.headers.host}</h1>`));
  originPort = await new Promise<number>((r) => origin.listen(0, '127.0.0.1', () => r((origin.address() as AddressInfo).port)));
  smtp = await startSmtpSink();
  proxyPort = await freePort();
  consolePort = await freePort();
  writeFileSync(join(tmp.dir, 'fairwatch.yaml'), `
organisation: { name: Riverside Care, timezone: Europe/London }
proxy: { port: ${proxyPort}, workers: 2, hostsFile: ${join(tmp.dir, 'hosts')}, allowDestinations: [127.0.0.1] }
console:
  port: ${consolePort}
  smtp: { url: "smtp://127.0.0.1:${smtp.port}", from: fairwatch@riverside.test, to: [directors@riverside.test] }
policy:
  categoryLabels: { phishing: "${XSS}Phishing and fraud", adult: Adult material }
  rules:
    - { id: serious, categories: [adult, phishing, gambling], action: block, clause: "Never acceptable." }
  alerts:
    categories: [adult, phishing, stalkerware]
    perHour: 3
    perDay: null
    notify: [safeguarding@riverside.test]
`);
  for (const [user, role] of [['alice', 'staff'], ['bob', 'staff'], ['dana', 'director'], ['pat', 'dpo'], ['ian', 'it']] as const) {
    const r = await runCli(['users', 'add', '--username', user, '--role', role, '--password-stdin'], { env: env(), stdin: `${PASSWORD}\n` });
    expect(r.code, r.stderr).toBe(0);
    const secret = /totp-secret: (\S+)/.exec(r.stdout)?.[1];
    if (secret) totp[user] = secret;
  }
  server = startCli(['start'], { env: env(), timeoutMs: 150_000 });
  await server.ready;
  await acceptAup('alice');
  await acceptAup('bob');
}, 240_000);

afterAll(async () => {
  if (server) expect(await server.stop('SIGTERM')).toBe(0);
  origin?.close();
  await smtp?.close();
  tmp.cleanup();
});

const safeguardingMail = () => smtp.messages.filter((m) => m.to.join(' ').includes('safeguarding@riverside.test'));
const site = (hostName: string, path: string) => `http://${hostName}:${originPort}${path}`;

describe('alerts from live traffic', () => {
  let dana: Session;
  let alert: ApiAlert;

  it('below the threshold nothing is raised, and two people\'s attempts do not add up; past it, one alert', async () => {
    for (const user of ['alice', 'bob']) {
      for (let i = 0; i < 2; i++) expect(await curl(user, site('adult.site.test', `/${user}${i}`))).toBe(403);
    }
    // gambling is blocked but not alerted on
    for (let i = 0; i < 4; i++) expect(await curl('alice', site('bet.site.test', `/g${i}`))).toBe(403);
    for (let i = 0; i < 3; i++) expect(await curl('alice', site('phish.site.test', `/p${i}`))).toBe(403);
    dana = await signIn('dana');
    const got = await pollUntil(() => alertsOf(dana), (r) => r.alerts.length > 0, 60_000, 300);
    // events are stored and checked in order: when the phishing alert exists, the adult ones were checked
    expect(got.alerts.map((a) => a.category)).toEqual(['phishing']);
    alert = got.alerts[0]!;
    expect(alert).toMatchObject({ period: 'hour', attempts: 3, threshold: 3, status: 'open', investigation_id: null });
    expect(alert.pseudonym).toMatch(/^[0-9a-f]{8,}$/);
    expect(got.open).toBe(1);
    // no name, host, path or address in what the API gives
    const raw = JSON.stringify(got);
    for (const s of ['alice', 'bob', 'phish.site.test', '/p0', '127.0.0.1']) expect(raw).not.toContain(s);
  }, 120_000);

  it('mails the designated address once, with no name, pseudonym or site', async () => {
    const mails = await pollUntil(() => safeguardingMail(), (m) => m.length > 0, 30_000, 200);
    expect(mails).toHaveLength(1);
    const body = mails[0]!.data.replace(/=\r\n/g, '');
    expect(body).toMatch(/Subject: fairwatch: an alert is waiting/);
    expect(body).toContain('Blocked attempts: 3 within one hour');
    expect(body).toContain(`${consoleUrl()}/alerts`);
    for (const s of ['alice', alert.pseudonym, 'phish.site.test', '/p0', 'bob']) expect(body.toLowerCase()).not.toContain(s.toLowerCase());
    // a fourth attempt updates the same alert and sends nothing more
    expect(await curl('alice', site('phish.site.test', '/p3'))).toBe(403);
    const again = await pollUntil(() => alertsOf(dana), (r) => r.alerts[0]?.attempts === 4, 60_000, 300);
    expect(again.alerts).toHaveLength(1);
    expect(again.alerts[0]!.id).toBe(alert.id);
    expect(safeguardingMail()).toHaveLength(1);
  }, 120_000);

  it('only directors and the DPO see alerts; IT and staff are refused; viewing is audited', async () => {
    expect((await call(null, 'GET', '/api/alerts')).status).toBe(401);
    const ian = await signIn('ian');
    expect((await call(ian, 'GET', '/api/alerts')).status).toBe(403);
    expect((await call(ian, 'GET', '/alerts')).status).toBe(403);
    expect((await call(ian, 'GET', `/alerts/${alert.id}`)).status).toBe(403);
    const alice = await signIn('alice');
    expect((await call(alice, 'GET', '/api/alerts')).status).toBe(403);
    expect((await call(alice, 'POST', `/api/alerts/${alert.id}/dismiss`, { json: { reason: 'x' } })).status).toBe(403);
    const pat = await signIn('pat');
    expect((await call(pat, 'GET', '/api/alerts')).status).toBe(200);
    const page = await call(pat, 'GET', `/alerts/${alert.id}`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('Ask for an investigation</button>');
    // the DPO sees but does not act
    expect((await call(pat, 'POST', `/api/alerts/${alert.id}/investigation`, { json: { allegation: 'x' } })).status).toBe(403);
    expect((await call(dana, 'GET', '/api/alerts/../alerts/0000')).status).toBe(404);
    expect((await call(dana, 'GET', '/alerts/not-an-alert')).status).toBe(404);
    const audit = JSON.parse((await call(dana, 'GET', '/api/audit-log')).text) as { rows?: Array<{ action: string; outcome: string; actor_role?: string }> } | Array<{ action: string; outcome: string }>;
    const rows = (Array.isArray(audit) ? audit : audit.rows ?? []) as Array<{ action: string; outcome: string }>;
    const text = JSON.stringify(rows);
    expect(rows.filter((r) => r.action === 'alert.list' && r.outcome === 'allowed').length).toBeGreaterThanOrEqual(2);
    expect(rows.some((r) => r.action === 'alert.list' && r.outcome === 'refused-403')).toBe(true);
    expect(text).toContain('alert.view');
  }, 60_000);

  it('the pages: the count in the menu and on the overview, every shown field escaped (desktop and phone screenshots)', async () => {
    const list = await call(dana, 'GET', '/alerts');
    expect(list.text).toMatch(/Open alerts: <span id="alerts-count">1<\/span>/);
    expect(list.text).toContain(alert.pseudonym);
    expect(list.text).not.toContain(XSS);
    expect(list.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;Phishing and fraud');
    expect((await call(dana, 'GET', '/home')).text).toMatch(/id="overview-alerts">1</);
    const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
    try {
      mkdirSync(SHOTS, { recursive: true });
      for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
        const ctx = await browser.newContext({ viewport });
        await ctx.addCookies([{ name: dana.cookie.split('=')[0]!, value: dana.cookie.split('=')[1]!, url: consoleUrl() }]);
        const page = await ctx.newPage();
        let dialogs = 0;
        page.on('dialog', (d) => { dialogs++; void d.dismiss(); });
        await page.goto(`${consoleUrl()}/alerts`);
        await page.getByRole('heading', { name: 'Alerts', exact: true }).waitFor();
        await page.screenshot({ path: join(SHOTS, `alerts-list-${viewport.width}.png`), fullPage: true });
        await page.getByRole('link', { name: alert.pseudonym }).click();
        await page.getByRole('button', { name: 'Ask for an investigation' }).waitFor();
        await page.screenshot({ path: join(SHOTS, `alerts-detail-${viewport.width}.png`), fullPage: true });
        expect(dialogs).toBe(0);
        await ctx.close();
      }
    } finally {
      await browser.close();
    }
    for (const f of ['list-1280', 'list-390', 'detail-1280', 'detail-390']) expect(statSync(join(SHOTS, `alerts-${f}.png`)).size).toBeGreaterThan(5000);
  }, 120_000);

  it('actions need the form token and a same-origin request', async () => {
    const noToken = await call(dana, 'POST', `/alerts/${alert.id}/dismiss`, { form: { reason: 'forged' } });
    expect(noToken.status).toBe(403);
    const wrongToken = await call(dana, 'POST', `/alerts/${alert.id}/investigate`, { form: { allegation: 'forged', _csrf: 'x'.repeat(20) } });
    expect(wrongToken.status).toBe(403);
    const crossSite = await call(dana, 'POST', `/alerts/${alert.id}/dismiss`, { form: { reason: 'forged', _csrf: dana.csrf } }, { origin: 'http://evil.test' });
    expect(crossSite.status).toBe(403);
    const asText = await call(dana, 'POST', `/api/alerts/${alert.id}/dismiss`, undefined, { 'content-type': 'text/plain' });
    expect(asText.status).toBe(415);
    expect((await alertsOf(dana)).alerts[0]!.status).toBe('open');
  }, 60_000);

  it('a director turns the alert into an investigation of that person; it cannot be acted on twice', async () => {
    const r = await call(dana, 'POST', `/alerts/${alert.id}/investigate`, { form: { allegation: 'Repeated attempts at phishing sites reported by the alert', expires_in_minutes: '60', _csrf: dana.csrf } });
    expect(r.status, r.text).toBe(303);
    const invId = /^\/investigations\/([0-9a-f-]{36})$/.exec(r.location)?.[1];
    expect(invId, r.location).toBeDefined();
    // the usual flow: approved at once without four eyes; the subject is the person behind the pseudonym
    const activity = JSON.parse((await call(dana, 'GET', `/api/investigations/${invId}/activity`)).text) as { subject: string; blocked?: Array<{ host: string; category: string }> };
    expect(activity.subject).toBe('alice');
    expect(activity.blocked?.filter((b) => b.host === 'phish.site.test')).toHaveLength(4);
    const after = await alertsOf(dana);
    expect(after.alerts[0]).toMatchObject({ status: 'investigation', investigation_id: invId });
    expect(after.open).toBe(0);
    expect((await call(dana, 'POST', `/api/alerts/${alert.id}/dismiss`, { json: { reason: 'late' } })).status).toBe(409);
  }, 60_000);

  it('a second person past the threshold raises their own alert; dismissing it is audited with the reason, shown escaped', async () => {
    for (let i = 0; i < 3; i++) expect(await curl('bob', site('phish.site.test', `/b${i}`))).toBe(403);
    const got = await pollUntil(() => alertsOf(dana), (r) => r.alerts.length === 2, 60_000, 300);
    const bobs = got.alerts.find((a) => a.id !== alert.id)!;
    expect(bobs.pseudonym).not.toBe(alert.pseudonym);
    expect(bobs.attempts).toBe(3);
    const reason = `<img src=x onerror=alert(1)> shared computer, checked with the manager`;
    const r = await call(dana, 'POST', `/alerts/${bobs.id}/dismiss`, { form: { reason, _csrf: dana.csrf } });
    expect(r.status).toBe(200);
    const page = await call(dana, 'GET', `/alerts/${bobs.id}`);
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.text).not.toContain('<img src=x');
    const rows = JSON.parse((await call(dana, 'GET', '/api/audit-log')).text) as unknown;
    expect(JSON.stringify(rows)).toContain('shared computer, checked with the manager');
    expect((await alertsOf(dana)).alerts.find((a) => a.id === bobs.id)!.status).toBe('dismissed');
    expect(safeguardingMail()).toHaveLength(2);
  }, 120_000);

  it('the transparency page says what is alerted on and who is told, from the live configuration', async () => {
    const res = await fetch(`${consoleUrl()}/transparency`);
    const text = await res.text();
    expect(text).toContain('<h2>Alerts</h2>');
    expect(text).toMatch(/reach 3 in one hour/);
    expect(text).toContain('Adult material');
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;Phishing and fraud');
    // stalkerware is configured but not in the lists: not shown; gambling is blocked but not alerted on
    expect(text).not.toMatch(/Stalkerware/i);
    expect(text).toMatch(/directors and the data protection officer see alerts/);
    expect(text).toMatch(/IT support does not/);
    expect(text).toMatch(/One address the organisation designated/);
    expect(text).not.toContain('safeguarding@riverside.test');
  }, 30_000);
});
