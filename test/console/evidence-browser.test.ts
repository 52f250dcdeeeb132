import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsole } from '../../dashboards/role.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// A director opens an investigation and presses "Export evidence pack" in Debian's chromium over a
// real socket; the downloaded file passes `fairwatch evidence verify`. Screenshot in test-artefacts/.

const ARTEFACTS = join(import.meta.dirname, '..', '..', 'test-artefacts');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PASSWORD = 'a long enough password';
const DAY = 86_400_000;

let t: Awaited<ReturnType<typeof openTestPlatform>>;
let consoleHandle: Awaited<ReturnType<typeof startConsole>>;
let browser: Browser;
let totpSecret = '';
const out = tempDir('fw-evidence-browser-');

beforeAll(async () => {
  mkdirSync(ARTEFACTS, { recursive: true });
  t = await openTestPlatform({ yaml: 'console: { port: 0 }\n' });
  totpSecret = (await t.platform.users.add({ username: 'dana', role: 'director', group: 'managers', password: PASSWORD })).totpSecret!;
  await t.platform.users.add({ username: 'sam', role: 'staff', group: 'staff', password: PASSWORD });
  const yesterday = Math.floor(Date.now() / DAY) * DAY - DAY + 10 * 3_600_000;
  await t.platform.store.insert('events', [0, 1, 2].map((i) => ({
    ts: new Date(yesterday + i * 60_000).toISOString(), event_id: randomUUID(), user_pseudonym: t.platform.pseudonyms.user('sam'), user_group: 'staff',
    client_pseudonym: 'c1', method: 'GET', scheme: 'https', host: `site${i}.example`, port: 443, path: '/', status: 200, bytes_up: 0, bytes_down: 500,
    duration_ms: 3, content_type: 'text/html', filename: '', category: 'news', action: 'allow', rule: 'default', flags: [],
  })));
  consoleHandle = await startConsole(t.platform);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await consoleHandle?.stop();
  await t?.cleanup();
  out.cleanup();
});

describe('evidence pack in the browser', () => {
  it('a director opens an investigation, exports the pack, and the download verifies', async () => {
    const ctx = await browser.newContext({ acceptDownloads: true });
    const page = await ctx.newPage();
    await page.goto(`${consoleHandle.url}/login`);
    await page.fill('input[name=username]', 'dana');
    await page.fill('input[name=password]', PASSWORD);
    await page.fill('input[name=totp]', await generate({ secret: totpSecret }));
    await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('button[type=submit]')]);

    await page.goto(`${consoleHandle.url}/investigations/new`);
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    await page.fill('input[name=subject]', 'sam');
    await page.fill('textarea[name=allegation]', 'personal browsing in working hours');
    await page.fill('input[name=from]', day(Date.now() - DAY));
    await page.fill('input[name=to]', day(Date.now() + DAY));
    await page.fill('input[name=expires_in_minutes]', '60');
    await Promise.all([page.waitForURL(/\/investigations\/[0-9a-f-]{36}$/), page.click('form[action="/investigations"] button[type=submit]')]);
    const id = new URL(page.url()).pathname.split('/').pop()!;
    await page.screenshot({ path: join(ARTEFACTS, 'console-evidence-export.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`form[action="/investigations/${id}/evidence"] button[type=submit]`)]);
    expect(download.suggestedFilename()).toBe(`evidence-${id}.tar.gz`);
    const file = join(out.dir, download.suggestedFilename());
    await download.saveAs(file);
    expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const r = await runCli(['evidence', 'verify', file], { env: { FAIRWATCH_DATA_DIR: t.dataDir } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok 2 files, signed by this installation's evidence key/);
    await ctx.close();
  }, 120_000);
});
