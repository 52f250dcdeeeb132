import { eventsOfEntries } from '../helpers/stream-events.ts';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { generate } from 'otplib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aupSetKey } from '../../core/identity/aup.ts';
import { bindingKey } from '../../core/identity/sign-in-binding.ts';
import { BIG_SHA, PASSWORD, startStack, type Stack } from './stack.ts';

// Staff pages in a real browser (Debian chromium through playwright-core) through the real proxy
// and console. Screenshots go to test-artefacts/pages/.

const ART = join(import.meta.dirname, '..', '..', 'test-artefacts', 'pages');
mkdirSync(ART, { recursive: true });
const XSS = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;

let s: Stack;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
const dialogs: string[] = [];

beforeAll(async () => {
  s = await startStack();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--proxy-server=http://127.0.0.1:${s.proxyPort}`, `--ignore-certificate-errors-spki-list=${s.spkiList}`],
  });
  ctx = await browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
  page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  // no page may run script: any alert() means an XSS got through
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

async function shot(name: string): Promise<void> {
  const file = join(ART, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  expect(statSync(file).size).toBeGreaterThan(5000);
}

const site = (host: string, path = '/') => `http://${host}:${s.httpPort}${path}`;
const secure = (host: string, path = '/') => `https://${host}:${s.httpsPort}${path}`;

describe('staff pages in chromium', () => {
  it('first use leads to the acceptable-use statement; accepting it is recorded and browsing proceeds', async () => {
    const res = await page.goto(site('ok.test', '/start'));
    expect(new URL(page.url()).pathname).toBe('/aup');
    expect(res!.status()).toBe(200);
    await expect(page.getByRole('heading', { name: 'Acceptable-use statement' }).isVisible()).resolves.toBe(true);
    await expect(page.getByText('Version 3').isVisible()).resolves.toBe(true);
    await expect(page.getByText('all internet activity through this network').isVisible()).resolves.toBe(true);
    await shot('aup');
    await page.getByRole('button', { name: 'I accept' }).click();
    await page.getByRole('heading', { name: 'Thank you' }).waitFor();
    await shot('aup-accepted');
    await page.getByRole('link', { name: 'Continue to the site' }).click();
    await page.getByRole('heading', { name: 'Welcome to ok.test' }).waitFor();
    const alice = s.p.pseudonyms.user('alice');
    const rows = await s.p.store.rows<{ version: string }>('SELECT version FROM fairwatch.aup_acceptances WHERE user_pseudonym = {p:String}', { p: alice });
    expect(rows).toEqual([{ version: '3' }]);
    expect(await s.p.redis.sismember(aupSetKey('3'), alice)).toBe(1);
    const aupEvents = s.sink.events.filter((e) => e.action === 'aup' && e.host === 'ok.test');
    expect(aupEvents.length).toBeGreaterThanOrEqual(1);
    expect(aupEvents[0]!.host).toBe('ok.test');
  });

  it('a blocked plain HTTP site shows the block page, escaping the URL', async () => {
    const res = await page.goto(site('bet.test', `/spin/${encodeURIComponent(XSS)}`));
    expect(res!.status()).toBe(403);
    expect(res!.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    await expect(page.getByRole('heading', { name: 'This site is blocked' }).isVisible()).resolves.toBe(true);
    await expect(page.getByText('Gambling sites', { exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.getByText('Gambling sites are never acceptable.').isVisible()).resolves.toBe(true);
    const ev = s.sink.events.filter((e) => e.host === 'bet.test').at(-1)!;
    expect(ev.action).toBe('block');
    await expect(page.getByText(ev.event_id).isVisible()).resolves.toBe(true);
    await expect(page.getByText('Hope <&> Care Trust').first().isVisible()).resolves.toBe(true);
    // the stylesheet applied under the strict CSP (the heading band is coloured, not default black on white)
    const band = await page.locator('.band.block').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(band).toBe('rgb(253, 236, 236)');
    await shot('block-http');
    expect(await page.locator('img[src=x]').count()).toBe(0);
  });

  it('"I need this for my work" sends a work-exception request; the link works once', async () => {
    await page.goto(site('bet.test', '/work'));
    await page.getByRole('link', { name: 'I need this for my work' }).click();
    await page.getByRole('heading', { name: 'Ask for a work exception' }).waitFor();
    const formUrl = page.url();
    await shot('exception-form');
    // too short (checked by the server, no script needed): the form comes back with a clear error
    await page.getByLabel('Why do you need this site for your work?').fill('x');
    await page.getByRole('button', { name: 'Send the request' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/say why you need the site/);
    await expect(page.getByLabel('Why do you need this site for your work?').inputValue()).resolves.toBe('x');
    await page.getByLabel('Why do you need this site for your work?').fill(`Safeguarding case research ${XSS}`);
    await page.getByRole('button', { name: 'Send the request' }).click();
    await page.getByRole('heading', { name: 'Request sent' }).waitFor();
    await shot('exception-sent');
    await page.goto(formUrl);
    await expect(page.getByRole('heading', { name: 'This link has already been used' }).isVisible()).resolves.toBe(true);
  });

  it('"I reached this by accident" records a self-report', async () => {
    await page.goto(site('bet.test', '/oops'));
    await page.getByRole('link', { name: 'I reached this by accident' }).click();
    await page.getByRole('heading', { name: 'Report an accidental visit' }).waitFor();
    await shot('accident-form');
    await page.getByLabel('What happened? (optional)').fill(`A link in an email </textarea>${XSS}`);
    await page.getByRole('button', { name: 'Send the report' }).click();
    await page.getByRole('heading', { name: 'Report received' }).waitFor();
    await shot('accident-sent');
  });

  it('both requests are in the director inbox, under the pseudonym, with the reasons shown as text', async () => {
    const login = await fetch(`${s.consoleUrl}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'dana', password: PASSWORD, totp: await generate({ secret: s.totpSecret }) }),
    });
    expect(login.status).toBe(200);
    const [name, value] = login.headers.get('set-cookie')!.split(';')[0]!.split('=') as [string, string];
    const api = await fetch(`${s.consoleUrl}/api/access-requests`, { headers: { cookie: `${name}=${value}` } });
    const pending = await api.json() as Array<{ subject: string; target: string; reason: string }>;
    expect(pending.map((r) => [r.subject, r.target]).sort()).toEqual([['self-report', 'bet.test'], ['work-exception', 'bet.test']]);
    const director = await browser.newContext();
    await director.addCookies([{ name, value, url: s.consoleUrl }]);
    const d = await director.newPage();
    d.setDefaultTimeout(10_000);
    d.on('dialog', (x) => { dialogs.push(x.message()); void x.dismiss(); });
    await d.goto(`${s.consoleUrl}/inbox`);
    await expect(d.getByText(`Safeguarding case research ${XSS}`).isVisible()).resolves.toBe(true);
    await expect(d.getByText(`A link in an email </textarea>${XSS}`).isVisible()).resolves.toBe(true);
    await d.screenshot({ path: join(ART, 'director-inbox.png'), fullPage: true });
    expect(statSync(join(ART, 'director-inbox.png')).size).toBeGreaterThan(5000);
    await director.close();
    const rows = await s.p.store.rows<{ subject: string; target: string; actor: string; details: string }>(
      "SELECT subject, target, actor, details FROM fairwatch.authorisations WHERE kind = 'request' ORDER BY ts");
    const alice = s.p.pseudonyms.user('alice');
    expect(rows.map((r) => [r.subject, r.target, r.actor])).toEqual([['work-exception', 'bet.test', alice], ['self-report', 'bet.test', alice]]);
    expect(JSON.parse(rows[0]!.details)).toMatchObject({ category: 'gambling', host: 'bet.test' });
    expect(JSON.stringify(rows)).not.toContain('alice');
  });

  it('a blocked HTTPS site shows the block page over TLS with a certificate from the organisation CA', async () => {
    const res = await page.goto(secure('bet.test', '/account'));
    expect(res!.status()).toBe(403);
    await expect(page.getByRole('heading', { name: 'This site is blocked' }).isVisible()).resolves.toBe(true);
    await expect(page.getByText(`https://bet.test:${s.httpsPort}/account`).isVisible()).resolves.toBe(true);
    await shot('block-https');
    const cert = await peerCertificate('bet.test');
    expect(cert.issuer).toContain('Care Trust fairwatch block-page CA');
    expect(cert.subject).toContain('CN=bet.test');
  });

  it('an allowed HTTPS site loads untouched: the origin certificate and every tunnel byte come through', async () => {
    await page.goto(secure('secure.test'));
    await page.getByRole('heading', { name: 'Welcome to secure.test' }).waitFor();
    await shot('allowed-https');
    const cert = await peerCertificate('secure.test', '/big');
    expect(cert.issuer).toContain('Public Test CA');
    expect(cert.bodySha).toBe(BIG_SHA);
  });

  it('a warning on an HTTPS site shows the interstitial over TLS', async () => {
    const res = await page.goto(secure('video.test', '/clip'));
    expect(res!.status()).toBe(200);
    await page.getByRole('heading', { name: 'Before you continue' }).waitFor();
    const href = await page.getByRole('link', { name: 'Continue' }).getAttribute('href');
    expect(new URL(href!).searchParams.get('return')).toBe(`https://video.test:${s.httpsPort}/clip`);
    await shot('warn-https');
    expect((await peerCertificate('video.test')).issuer).toContain('Care Trust fairwatch block-page CA');
  });

  it('a warning leads to an interstitial; Continue is recorded and lets the category through', async () => {
    const res = await page.goto(site('video.test', '/watch'));
    expect(res!.status()).toBe(200);
    await page.getByRole('heading', { name: 'Before you continue' }).waitFor();
    await expect(page.getByText('Video streaming', { exact: true }).isVisible()).resolves.toBe(true);
    await shot('warn');
    await page.getByRole('link', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Welcome to video.test' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/watch');
    const alice = s.p.pseudonyms.user('alice');
    const until = Number(await s.p.redis.hget(`fairwatch:continue:${alice}`, 'audio-video'));
    expect(until - Date.now()).toBeGreaterThan(19 * 60_000);
    // the continue event is in the pipeline's stream, under the pseudonym
    let recorded: string[] = [];
    for (let i = 0; i < 50 && recorded.length === 0; i++) {
      const stream = await s.p.redis.xrange(s.p.config.pipeline.stream, '-', '+');
      recorded = eventsOfEntries(stream).filter((e) => e.action === 'continue').map((e) => JSON.stringify(e));
      if (recorded.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(recorded.length).toBe(1);
    expect(recorded[0]).toContain(alice);
    expect(recorded[0]).toContain('video.test');
    // another page in the category opens without the interstitial
    await page.goto(site('video.test', '/other'));
    await page.getByRole('heading', { name: 'Welcome to video.test' }).waitFor();
  });

  it('the transparency page is linked from every page and built from the config', async () => {
    await page.goto(site('bet.test', '/again'));
    await page.getByRole('link', { name: 'What is recorded and why' }).click();
    await page.getByRole('heading', { name: 'What is recorded and why' }).waitFor();
    await expect(page.getByText('90 days, then deleted automatically').isVisible()).resolves.toBe(true);
    await shot('transparency');
  });

  it('sign-in binds this computer to the person; sign-out unbinds it', async () => {
    const client = s.p.pseudonyms.client('127.0.0.1');
    await page.goto(`${s.consoleUrl}/sign-in`);
    await page.getByRole('heading', { name: 'Sign in to use the internet' }).waitFor();
    await page.getByLabel('User name').fill('bob');
    await page.getByLabel('Password').fill('wrong password here');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/not recognised/);
    await shot('sign-in-error');
    expect(await s.p.redis.get(bindingKey(client))).toBeNull();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
    await shot('signed-in');
    expect(JSON.parse((await s.p.redis.get(bindingKey(client)))!)).toMatchObject({ user: 'bob', group: 'volunteers' });
    const ttl = await s.p.redis.ttl(bindingKey(client));
    expect(ttl).toBeGreaterThan(7000);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    expect(await s.p.redis.get(bindingKey(client))).toBeNull();
  });

  it('no page ran any script', () => {
    expect(dialogs).toEqual([]);
  });
});

/** CONNECT through the proxy by hand, then TLS trusting both test CAs: who issued what the client saw. */
function peerCertificate(host: string, path?: string): Promise<{ issuer: string; subject: string; bodySha?: string }> {
  return new Promise((resolve, reject) => {
    const raw = netConnect(s.proxyPort, '127.0.0.1');
    const timer = setTimeout(() => { raw.destroy(); reject(new Error('timed out')); }, 20_000);
    raw.once('connect', () => raw.write(`CONNECT ${host}:${s.httpsPort} HTTP/1.1\r\nHost: ${host}:${s.httpsPort}\r\n\r\n`));
    raw.once('data', (d) => {
      if (!/^HTTP\/1\.1 200/.test(d.toString())) return reject(new Error(d.toString()));
      const t = tlsConnect({ socket: raw, servername: host, ca: [s.orgCa.certPem, s.publicCa.certPem] }, () => {
        const peer = t.getPeerX509Certificate()!;
        const out = { issuer: peer.issuer, subject: peer.subject } as { issuer: string; subject: string; bodySha?: string };
        if (!path) {
          clearTimeout(timer);
          t.end();
          return resolve(out);
        }
        const chunks: Buffer[] = [];
        t.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        t.on('data', (c: Buffer) => chunks.push(c));
        t.on('end', () => {
          clearTimeout(timer);
          const all = Buffer.concat(chunks);
          const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
          resolve({ ...out, bodySha: createHash('sha256').update(body).digest('hex') });
        });
      });
      t.on('error', reject);
    });
    raw.on('error', reject);
  });
}
