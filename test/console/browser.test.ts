import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { loadKey } from '../../core/keys.ts';
import { sealReport } from '../../core/reports/seal.ts';
import { startConsole } from '../../dashboards/role.ts';
import { openTestPlatform } from '../helpers/platform.ts';

// The two flows people actually click through, in Debian's chromium over a real socket: IT asks
// for a report, a director approves it, IT reads it. Screenshots go to test-artefacts/.

const ARTEFACTS = join(import.meta.dirname, '..', '..', 'test-artefacts');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PASSWORD = 'a long enough password';

let t: Awaited<ReturnType<typeof openTestPlatform>>;
let consoleHandle: Awaited<ReturnType<typeof startConsole>>;
let browser: Browser;
const secrets: Record<string, string> = {};

function checkPng(path: string) {
  const buf = readFileSync(path);
  expect(buf.length).toBeGreaterThan(2000);
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
}

beforeAll(async () => {
  mkdirSync(ARTEFACTS, { recursive: true });
  t = await openTestPlatform({ yaml: 'organisation: { name: "Riverside Care" }\nconsole: { port: 0 }\n' });
  for (const [name, role] of [['dana', 'director'], ['ian', 'it']] as const) {
    secrets[name] = (await t.platform.users.add({ username: name, role, group: role === 'it' ? 'it' : 'managers', password: PASSWORD })).totpSecret!;
  }
  const id = randomUUID();
  const now = new Date().toISOString();
  const sealed = sealReport(loadKey(t.dataDir, 'report-master', {}), id, JSON.stringify({ html: '<h1>Weekly audit</h1><p>3 hosts</p>', json: { categories: { news: 3 } } }));
  await t.platform.store.insert('reports', [{ report_id: id, kind: 'weekly-audit', period_from: now, period_to: now, created_at: now, row_counts: { categories: 1 }, ...sealed }]);
  consoleHandle = await startConsole(t.platform);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
});
afterAll(async () => {
  await browser?.close();
  await consoleHandle?.stop();
  await t?.cleanup();
});

async function signIn(name: string) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${consoleHandle.url}/login`);
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', PASSWORD);
  await page.fill('input[name=totp]', await generate({ secret: secrets[name]! }));
  await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'), page.click('button[type=submit]')]);
  await page.waitForLoadState();
  if (new URL(page.url()).pathname === '/login') throw new Error(`sign-in as ${name} failed: ${(await page.content()).slice(0, 600)}`);
  return { ctx, page };
}

describe('console in chromium', () => {
  it('IT requests access, the director approves with an expiry and their password, IT reads the report', async () => {
    const it1 = await signIn('ian');
    expect(new URL(it1.page.url()).pathname).toBe('/home');
    await it1.page.goto(`${consoleHandle.url}/reports`);
    await expect(it1.page.locator('h1').textContent()).resolves.toBe('Reports');
    // no grant yet: the report is refused
    const href = await it1.page.locator('a', { hasText: 'Open' }).first().getAttribute('href');
    const refused = await it1.page.goto(`${consoleHandle.url}${href}`);
    expect(refused!.status()).toBe(403);
    await it1.page.goto(`${consoleHandle.url}/reports`);
    await it1.page.fill('input[name=reason]', 'Monthly check of the weekly audit <b>figures</b>');
    await it1.page.click('text=Request access');
    await expect(it1.page.locator('.ok').textContent()).resolves.toMatch(/sent to the directors/);
    await expect(it1.page.locator('td', { hasText: 'pending' }).count()).resolves.toBe(1);
    const itShot = join(ARTEFACTS, 'console-it-request.png');
    await it1.page.screenshot({ path: itShot, fullPage: true });
    checkPng(itShot);

    const dir = await signIn('dana');
    expect(new URL(dir.page.url()).pathname).toBe('/home');
    await dir.page.goto(`${consoleHandle.url}/inbox`);
    await expect(dir.page.locator('#pending-count').textContent()).resolves.toBe('1');
    await expect(dir.page.locator('td.reason').textContent()).resolves.toBe('Monthly check of the weekly audit <b>figures</b>');
    await dir.page.selectOption('select[name=expires_in_minutes]', '480');
    await dir.page.fill('form[action$="/approve"] input[name=password]', PASSWORD);
    const dirShot = join(ARTEFACTS, 'console-director-inbox.png');
    await dir.page.screenshot({ path: dirShot, fullPage: true });
    checkPng(dirShot);
    await dir.page.click('text=Approve');
    await expect(dir.page.locator('.ok').textContent()).resolves.toMatch(/approved/);
    await expect(dir.page.locator('#pending-count').textContent()).resolves.toBe('0');
    await dir.page.goto(`${consoleHandle.url}/grants`);
    await expect(dir.page.locator('h1').textContent()).resolves.toBe('Active grants');
    await expect(dir.page.locator('td', { hasText: 'ian' }).count()).resolves.toBe(1);
    const grantsShot = join(ARTEFACTS, 'console-director-grants.png');
    await dir.page.screenshot({ path: grantsShot, fullPage: true });
    checkPng(grantsShot);

    const opened = await it1.page.goto(`${consoleHandle.url}${href}`);
    expect(opened!.status()).toBe(200);
    await expect(it1.page.locator('h1').textContent()).resolves.toBe('Report: weekly-audit');
    // a payload stored before reports were drawn by the console: no frame, no JSON on the page, downloads offered
    await expect(it1.page.locator('iframe').count()).resolves.toBe(0);
    await expect(it1.page.locator('main').textContent()).resolves.toMatch(/in the downloads below/);
    await expect(it1.page.locator('pre').count()).resolves.toBe(0);
    const reportShot = join(ARTEFACTS, 'console-it-report.png');
    await it1.page.screenshot({ path: reportShot, fullPage: true });
    checkPng(reportShot);

    // the director's audit page shows the whole story
    await dir.page.goto(`${consoleHandle.url}/audit`);
    const text = await dir.page.locator('table').textContent();
    for (const action of ['sign-in', 'report.request-access', 'request.approve', 'report.view']) expect(text).toContain(action);
    expect(text).toContain('refused-403');
    await it1.ctx.close();
    await dir.ctx.close();
  }, 240_000);
});
