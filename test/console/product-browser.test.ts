import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAudit } from '../../analyser/reports/audit.ts';
import { loadKey } from '../../core/keys.ts';
import { saveBuiltReport } from '../../core/reports/payload.ts';
import { recordUntrustedCa } from '../../core/tls/untrusted-ca.ts';
import { startConsole } from '../../dashboards/role.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { subjectEvent } from './harness.ts';

// The console as a product, clicked through in Debian's chromium over a real socket, for each role
// at desktop and phone widths: overview, a report drawn as a page, people (add by one-time link),
// the staff member's own page (accidental visit, concern, password), health, and the investigation
// report. Screenshots go to test-artefacts/console/.

const ART = join(import.meta.dirname, '..', '..', 'test-artefacts', 'console');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PASSWORD = 'a long enough password';
const WIDTHS = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } } as const;

let t: Awaited<ReturnType<typeof openTestPlatform>>;
let con: Awaited<ReturnType<typeof startConsole>>;
let browser: Browser;
const secrets: Record<string, string | null> = {};
let auditId = '';
const csp: string[] = [];

async function shot(page: Page, name: string) {
  const path = join(ART, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  const buf = readFileSync(path);
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(buf.length).toBeGreaterThan(5000);
}

/** signed-in contexts of accounts with an authenticator: a code is accepted once, so they sign in once */
const signedIn = new Map<string, Awaited<ReturnType<Browser['newContext']>>>();

async function signIn(name: string, size: keyof typeof WIDTHS = 'desktop', password = PASSWORD) {
  const cached = signedIn.get(name);
  if (cached) {
    const page = await cached.newPage();
    await page.setViewportSize(WIDTHS[size]);
    return { ctx: cached, page };
  }
  const ctx = await browser.newContext({ viewport: WIDTHS[size] });
  if (secrets[name]) signedIn.set(name, ctx);
  const page = await ctx.newPage();
  page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) csp.push(m.text()); });
  await page.goto(`${con.url}/login`);
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  if (secrets[name]) await page.getByLabel(/Authenticator code/).fill(await generate({ secret: secrets[name]! }));
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.getByRole('button', { name: 'Sign in' }).click()]);
  return { ctx, page };
}

beforeAll(async () => {
  mkdirSync(ART, { recursive: true });
  t = await openTestPlatform({ yaml: 'organisation: { name: "Riverside Care" }\nconsole: { port: 0, fourEyes: false }\n' });
  const p = t.platform;
  for (const [name, role, group] of [['dana', 'director', 'managers'], ['ian', 'it', 'it'], ['sam', 'staff', 'staff']] as const) {
    secrets[name] = (await p.users.add({ username: name, role, group, password: PASSWORD })).totpSecret;
  }
  // two weeks of a little traffic, so the audit has a previous period to compare with
  const sam = p.pseudonyms.user('sam');
  const now = Date.now();
  const start = now - 14 * 86_400_000;
  const rows = [];
  for (let i = 0; i < 240; i++) {
    const host = ['news.example', 'intranet.example', 'games.example', 'shop.example'][i % 4]!;
    rows.push(subjectEvent(i % 3 === 0 ? sam : `p${i % 7}`, start, i * 83, { host, category: host.split('.')[0], action: host.startsWith('games') ? 'block' : 'allow', status: host.startsWith('games') ? 403 : 200 }));
  }
  rows.push(subjectEvent(sam, now - 3_600_000, 0, { host: 'oops.example', category: 'adult', action: 'block', status: 403 }));
  // one site under several host names: the audit lists it once, as bbc.co.uk
  for (let i = 0; i < 30; i++) rows.push(subjectEvent(`p${i % 5}`, now - 6 * 86_400_000, i * 240, { host: ['www.bbc.co.uk', 'news.bbc.co.uk'][i % 2]!, category: 'news' }));
  await p.store.insert('events', rows);
  const built = await buildAudit({ store: p.store, config: p.config }, { from: new Date(now - 7 * 86_400_000).toISOString(), to: new Date(now).toISOString() }, 'weekly');
  auditId = await saveBuiltReport(p.store, loadKey(t.dataDir, 'report-master', {}), built, 'Riverside Care');
  await recordUntrustedCa(p.redis, 'device-4f2a');
  con = await startConsole(p);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await con?.stop();
  await t?.cleanup();
});

describe('the console as a product, in chromium', () => {
  it('sign-in page is styled and labelled (desktop and phone)', async () => {
    for (const size of ['desktop', 'phone'] as const) {
      const ctx = await browser.newContext({ viewport: WIDTHS[size] });
      const page = await ctx.newPage();
      await page.goto(`${con.url}/login`);
      await expect(page.getByLabel('User name').count()).resolves.toBe(1);
      // the shared sheet applies: a 2px dark border on inputs, the blue button
      await expect(page.getByLabel('User name').evaluate((e) => getComputedStyle(e).borderTopWidth)).resolves.toBe('2px');
      await expect(page.getByRole('button', { name: 'Sign in' }).evaluate((e) => getComputedStyle(e).backgroundColor)).resolves.toBe('rgb(11, 79, 156)');
      await shot(page, `sign-in-${size}`);
      await ctx.close();
    }
  }, 60_000);

  it('staff: own page with an accidental visit and a concern, then a changed password', async () => {
    for (const size of ['desktop', 'phone'] as const) {
      const { ctx, page } = await signIn('sam', size);
      expect(new URL(page.url()).pathname).toBe('/my');
      if (size === 'desktop') {
        await page.getByLabel(/oops\.example/).check();
        await page.getByLabel('What happened (optional)').fill('clicked a link in an email <script>');
        await page.getByRole('button', { name: 'Report the visit' }).click();
        await expect(page.locator('p.ok').textContent()).resolves.toMatch(/sent to the directors/);
        await page.getByLabel('Your concern').fill('A colleague shows gambling sites to residents');
        await page.getByRole('button', { name: 'Send to the directors' }).click();
        await expect(page.locator('p.ok').textContent()).resolves.toMatch(/concern was sent/);
      }
      await shot(page, `staff-my-${size}`);
      await ctx.close();
    }
    const { ctx, page } = await signIn('sam');
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password (at least 10 characters)').fill('another long password');
    await page.getByLabel('The same again').fill('another long password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect(page.locator('p.ok').textContent()).resolves.toMatch(/password was changed/);
    await ctx.close();
    const again = await signIn('sam', 'desktop', 'another long password');
    expect(new URL(again.page.url()).pathname).toBe('/my');
    await again.ctx.close();
  }, 120_000);

  it('director: overview, inbox with the reports, a report as a page, people', async () => {
    // one sign-in per role: an authenticator code is accepted once, so the phone width is the same session resized
    const { ctx, page } = await signIn('dana');
    for (const size of ['desktop', 'phone'] as const) {
      await page.setViewportSize(WIDTHS[size]);
      await page.goto(`${con.url}/home`);
      expect(new URL(page.url()).pathname).toBe('/home');
      await expect(page.locator('#pending-decisions').textContent()).resolves.toBe('2');
      await expect(page.locator('table.figures').textContent()).resolves.toMatch(/Requests/);
      await expect(page.getByRole('heading', { name: 'Next spot check' }).count()).resolves.toBe(1);
      // pseudonymous: nobody's name on the overview
      await expect(page.locator('main').textContent()).resolves.not.toMatch(/\bsam\b/);
      await shot(page, `director-home-${size}`);
      await page.goto(`${con.url}/inbox`);
      await expect(page.locator('td.reason').allTextContents()).resolves.toContain('A colleague shows gambling sites to residents');
      await shot(page, `director-inbox-${size}`);
      await page.goto(`${con.url}/reports/${auditId}`);
      await expect(page.locator('iframe').count()).resolves.toBe(0);
      await expect(page.locator('pre').count()).resolves.toBe(0);
      await expect(page.locator('figure.chart svg').count()).resolves.toBeGreaterThanOrEqual(3);
      await expect(page.locator('#table-trend').count()).resolves.toBe(1);
      await expect(page.locator('figure.chart figcaption').first().textContent()).resolves.toMatch(/^Daily trend/);
      const bbc = page.locator('#table-top_domains + .scroll tr', { hasText: 'bbc.co.uk' });
      await expect(bbc.locator('td').allTextContents()).resolves.toEqual(['news', 'bbc.co.uk', '2', '30', '0', expect.any(String)]);
      await page.locator('figure.chart').first().screenshot({ path: join(ART, `director-report-daily-trend-${size}.png`) });
      await page.locator('#table-top_domains + .scroll').screenshot({ path: join(ART, `director-report-top-sites-${size}.png`) });
      await expect(page.locator('main').textContent()).resolves.not.toMatch(/by_group_category/);
      await shot(page, `director-report-${size}`);
      if (size === 'desktop') {
        await page.emulateMedia({ media: 'print' });
        await expect(page.locator('header').isVisible()).resolves.toBe(false);
        await shot(page, 'director-report-print');
        await page.emulateMedia({ media: 'screen' });
        // CSV download of one table, confirmed with the password
        await page.selectOption('select[name=format]', 'csv:trend');
        await page.getByLabel('Your password (to confirm it is you)').fill(PASSWORD);
        const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
        expect(dl.suggestedFilename()).toBe(`fairwatch-report-${auditId}-trend.csv`);
        expect(readFileSync((await dl.path())!, 'utf8')).toMatch(/^measure,this period,previous period,change/);
      }
      await page.goto(`${con.url}/people`);
      await expect(page.locator('#user-sam').textContent()).resolves.toMatch(/not yet/);
      await shot(page, `director-people-${size}`);
    }
    await page.close();
    void ctx;
  }, 180_000);

  it('IT: overview with health, health page, adds a person whose one-time link sets their password', async () => {
    // one sign-in per role: an authenticator code is accepted once, so the phone width is the same session resized
    const { ctx, page } = await signIn('ian');
    for (const size of ['desktop', 'phone'] as const) {
      await page.setViewportSize(WIDTHS[size]);
      await page.goto(`${con.url}/home`);
      expect(new URL(page.url()).pathname).toBe('/home');
      await expect(page.locator('#health-ca').textContent()).resolves.toMatch(/1 device/);
      await expect(page.locator('table.figures').count()).resolves.toBe(1);
      await shot(page, `it-home-${size}`);
      await page.goto(`${con.url}/health`);
      await expect(page.locator('main').textContent()).resolves.toMatch(/device-4f2a/);
      await shot(page, `it-health-${size}`);
      await page.goto(`${con.url}/people`);
      // IT may not add directors
      await expect(page.locator('select[name=role] option').allTextContents()).resolves.toEqual(['staff', 'it']);
      if (size === 'desktop') {
        await page.getByLabel('User name').fill('nina');
        await page.getByRole('button', { name: 'Add' }).click();
        const link = (await page.locator('#account-link').textContent())!.trim();
        expect(link).toMatch(/\/account\/[A-Za-z0-9_-]{43}$/);
        await shot(page, `it-people-added-${size}`);
        const anon = await browser.newContext();
        const p2 = await anon.newPage();
        await p2.goto(link);
        await p2.getByLabel('New password (at least 10 characters)').fill('nina has a long password');
        await p2.getByLabel('The same again').fill('nina has a long password');
        await p2.getByRole('button', { name: 'Set my password' }).click();
        await expect(p2.locator('p.ok').textContent()).resolves.toMatch(/password is set/);
        expect((await p2.goto(link))!.status()).toBe(404); // works once
        await anon.close();
        const nina = await signIn('nina', 'desktop', 'nina has a long password');
        expect(new URL(nina.page.url()).pathname).toBe('/my');
        await nina.ctx.close();
        // starters from CSV: each gets a one-time link
        await page.getByLabel('or paste it here').fill('username,role,group\nolu,staff,\npiet,it,\n');
        await page.getByRole('button', { name: 'Import' }).click();
        await expect(page.locator('#import-links td.link').count()).resolves.toBe(2);
        await shot(page, `it-people-imported-${size}`);
      } else {
        await shot(page, `it-people-${size}`);
        // a bad file: nothing added, each line named
        await page.getByLabel('or paste it here').fill('username,role,group\nquin,staff,\nrex,director,\nolu,staff,\n');
        await page.getByRole('button', { name: 'Import' }).click();
        await expect(page.locator('#import-problems li').allTextContents()).resolves.toEqual([
          'line 3: role director: only a director adds director accounts', 'line 4: user "olu" already exists']);
        await expect(page.getByLabel('or paste it here').inputValue()).resolves.toBe('username,role,group\nquin,staff,\nrex,director,\nolu,staff,\n');
        await shot(page, `it-people-import-problems-${size}`);
      }
    }
    await ctx.close();
  }, 180_000);

  it('director: the investigation report, produced and sealed from the investigation page', async () => {
    const { ctx, page } = await signIn('dana');
    await page.goto(`${con.url}/investigations/new`);
    await page.fill('input[name=subject]', 'sam');
    await page.fill('textarea[name=allegation]', 'Reported sharing of gambling sites with residents');
    await page.fill('input[name=from]', new Date(Date.now() - 14 * 86_400_000).toISOString().slice(0, 10));
    await page.fill('input[name=to]', new Date(Date.now() + 86_400_000).toISOString().slice(0, 10));
    await page.getByRole('button', { name: 'Open' }).click();
    expect(new URL(page.url()).pathname).toMatch(/^\/investigations\/[0-9a-f-]{36}$/);
    await page.getByRole('button', { name: 'Produce the investigation report' }).click();
    expect(new URL(page.url()).pathname).toMatch(/\/reports\/[0-9a-f-]{36}$/);
    await expect(page.locator('h1').textContent()).resolves.toBe('Investigation report');
    await expect(page.locator('#table-activity').count()).resolves.toBe(1);
    await expect(page.locator('main').textContent()).resolves.toMatch(/oops\.example/);
    await shot(page, 'director-investigation-report-desktop');
    await page.setViewportSize(WIDTHS.phone);
    await shot(page, 'director-investigation-report-phone');
    await page.close();
    void ctx;
    expect(csp).toEqual([]);
  }, 120_000);
});
