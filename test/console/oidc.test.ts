import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PageTokens } from '../../core/identity/page-token.ts';
import { signedInAs } from '../../core/identity/sign-in-binding.ts';
import { loadKey } from '../../core/keys.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { startConsole } from '../../dashboards/role.ts';
import { startTestIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { HttpBrowser } from './oidc-http.ts';

// OpenID Connect sign-in against a real provider (oidc-provider, behind TLS from a test CA) and the
// real console on a socket: Chromium for the pages people click, a scripted browser (undici,
// redirects by hand) for the attacks. Screenshots of the sign-in pages go to /work/notes/shots.

const SHOTS = '/work/notes/shots';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const files = tempDir();
const ca = createCa(files.dir, { organisation: 'OIDC Test CA' });
const caFile = join(files.dir, 'idp-ca.pem');
writeFileSync(caFile, ca.certPem);
const minter = new LeafMinter(ca);

let idp: TestIdp;
let idp2: TestIdp;
let t: Awaited<ReturnType<typeof openTestPlatform>>;
let con: Awaited<ReturnType<typeof startConsole>>;
let browser: Browser;
let tokens: PageTokens;

const RIVERSIDE = (extra: Record<string, unknown>) => ({ email_verified: true, tid: 'tenant-1', ...extra });

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  idp = await startTestIdp(minter);
  idp2 = await startTestIdp(minter);
  const yaml = `organisation: { name: "Riverside Care" }
console: { port: 0 }
identity:
  signInNetworks: ["127.0.0.0/8"]
  oidc:
    - id: test
      displayName: Riverside 365
      issuer: ${idp.issuer}
      clientId: fairwatch
      clientSecret: secret-one-0123456789
      caFile: ${caFile}
      usernameClaim: email
      roles: { fw-directors: director, fw-dpo: dpo, fw-it: it }
      groups: { grp-managers: managers, grp-volunteers: volunteers }
      allowedDomains: [riverside.example]
      requireClaims: { tid: tenant-1 }
    - id: other
      displayName: Other Workspace
      issuer: ${idp2.issuer}
      clientId: fairwatch
      clientSecret: secret-two-0123456789
      caFile: ${caFile}
      roleClaim: email
      roles: { gina@other.example: director }
      groupClaim: hd
      groups: { other.example: staff }
      requireClaims: { hd: other.example }
`;
  t = await openTestPlatform({ yaml });
  con = await startConsole(t.platform);
  const cb = (id: string) => [`${con.url}/auth/oidc/${id}/callback`, `${con.url}/sign-in/oidc/${id}/callback`];
  await idp.configure([
    { client_id: 'fairwatch', client_secret: 'secret-one-0123456789', redirect_uris: cb('test') },
    // an attacker's own application at the same provider, sending people to fairwatch's callback
    { client_id: 'attacker-app', client_secret: 'attacker-secret-0123', redirect_uris: cb('test') },
  ]);
  await idp2.configure([{ client_id: 'fairwatch', client_secret: 'secret-two-0123456789', redirect_uris: [...cb('other'), ...cb('test')] }]);
  for (const [login, claims] of Object.entries({
    dana: RIVERSIDE({ email: 'dana@riverside.example', roles: ['fw-directors'], groups: ['grp-managers'] }),
    ian: RIVERSIDE({ email: 'ian@riverside.example', roles: ['fw-it'], groups: [] }),
    sam: RIVERSIDE({ email: 'sam@riverside.example', groups: ['grp-volunteers'] }),
    nora: RIVERSIDE({ email: 'nora@riverside.example' }),
    eve: RIVERSIDE({ email: 'eve@evil.example', roles: ['fw-directors'] }),
    tess: { email: 'tess@riverside.example', email_verified: true, tid: 'tenant-2', roles: ['fw-directors'] },
    bob: RIVERSIDE({ email: 'bob@riverside.example', roles: ['fw-it'] }),
  })) idp.accounts.set(login, claims);
  idp2.accounts.set('gina', { email: 'gina@other.example', email_verified: true, hd: 'other.example' });
  // a local account whose name an OpenID account must not take over
  await t.platform.users.add({ username: 'bob@riverside.example', role: 'director', group: 'managers', password: 'a long enough password' });
  tokens = new PageTokens(loadKey(t.dataDir, 'page-token', {}));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await con?.stop();
  await idp?.close();
  await idp2?.close();
  await t?.cleanup();
  files.cleanup();
});

const hb = () => new HttpBrowser(ca.certPem, con.url);
const isCallback = (u: URL) => u.pathname.endsWith('/callback');

/** A console sign-in with the scripted browser, stopped at the callback: its URL and the browser. */
async function toCallback(login: string, provider = 'test', form: Record<string, string> = {}, b = hb()) {
  const start = await b.request(`${con.url}/auth/oidc/${provider}/start`, { form });
  expect(start.status, start.text.slice(0, 300)).toBe(303);
  const { stoppedAt, res } = await b.follow(start, login, isCallback);
  expect(stoppedAt, `the provider sent the browser back (ended at ${res.url.href} ${res.status} ${res.text.slice(0, 300)})`).not.toBeNull();
  return { b, callback: stoppedAt! };
}

async function auditSince(seq: number) {
  return (await t.platform.store.rows<{ seq: number; actor: string; action: string; reason: string; outcome: string }>(
    `SELECT seq, actor, action, reason, outcome FROM fairwatch.audit_log WHERE seq > {s:UInt64} ORDER BY seq`, { s: seq })).map((r) => ({ ...r, seq: Number(r.seq) }));
}
async function auditHead(): Promise<number> {
  const r = await t.platform.store.one<{ s: number | string }>('SELECT max(seq) AS s FROM fairwatch.audit_log');
  return Number(r?.s ?? 0);
}

describe('console sign-in with an OpenID provider, in Chromium', () => {
  it('shows a button per provider at desktop and phone width, and signs a director in from the claims', async () => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const before = await auditHead();
    const loginPage = await page.goto(`${con.url}/login`);
    // the forms may lead to the providers and nowhere else (Chrome applies form-action to the redirect)
    expect(loginPage!.headers()['content-security-policy']).toContain(`form-action 'self' ${idp.issuer} ${idp2.issuer}`);
    expect(await page.locator('button', { hasText: 'Sign in with Riverside 365' }).count()).toBe(1);
    expect(await page.locator('button', { hasText: 'Sign in with Other Workspace' }).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'oidc-console-login-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(SHOTS, 'oidc-console-login-390.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.click('button:has-text("Sign in with Riverside 365")');
    await page.waitForSelector('#login');
    expect(new URL(page.url()).origin).toBe(idp.issuer);
    await page.fill('#login', 'dana');
    await Promise.all([page.waitForURL((u) => u.pathname === '/home', { timeout: 20_000 }), page.click('button[type=submit]')]);
    expect(await page.content()).toContain('dana@riverside.example');
    const user = await t.platform.users.get('dana@riverside.example');
    expect(user).toMatchObject({ role: 'director', group: 'managers', passwordHash: '', totpSecret: '' });
    const rows = await auditSince(before);
    expect(rows.map((r) => [r.action, r.outcome])).toEqual([['user.created-just-in-time', 'allowed'], ['sign-in', 'allowed']]);
    expect(rows[1]).toMatchObject({ actor: user!.userId, reason: 'oidc:test' });
    // the session cookie is HttpOnly and SameSite=Strict like a password sign-in's
    const cookie = (await ctx.cookies()).find((c) => c.name === 'fw_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await ctx.close();
  }, 60_000);

  it('signs a person in on a shared computer from the proxy\'s sign-in link, with the group from the group claim', async () => {
    const client = t.platform.pseudonyms.client('127.0.0.1');
    const token = tokens.issue({ purpose: 'sign-in', eventId: randomUUID(), pseudonym: client, host: 'news.example' });
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const link = `${con.url}/sign-in?t=${encodeURIComponent(token)}&return=${encodeURIComponent('http://news.example/today')}`;
    await page.goto(link);
    expect(await page.locator('button', { hasText: 'Sign in with Riverside 365' }).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'oidc-staff-sign-in-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(SHOTS, 'oidc-staff-sign-in-390.png'), fullPage: true });
    await page.click('button:has-text("Sign in with Riverside 365")');
    await page.waitForSelector('#login');
    await page.fill('#login', 'sam');
    await Promise.all([page.waitForSelector('text=You are signed in', { timeout: 20_000 }), page.click('button[type=submit]')]);
    expect(await page.locator('a', { hasText: 'Continue to the site' }).getAttribute('href')).toBe('http://news.example/today');
    await page.screenshot({ path: join(SHOTS, 'oidc-staff-signed-in-390.png'), fullPage: true });
    expect(await signedInAs(t.platform.redis, client)).toMatchObject({ user: 'sam@riverside.example', group: 'volunteers' });
    expect(await t.platform.users.get('sam@riverside.example')).toMatchObject({ role: 'staff', group: 'volunteers' });
    // the proxy's link is spent: it signs nobody in a second time
    await page.goto(link);
    expect(await page.content()).toContain('already been used');
    await ctx.close();
    for (const f of ['oidc-console-login-1280.png', 'oidc-console-login-390.png', 'oidc-staff-sign-in-1280.png', 'oidc-staff-sign-in-390.png']) {
      expect(readFileSync(join(SHOTS, f)).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    }
  }, 60_000);
});

describe('refusals, each audited with the provider and the reason', () => {
  it('refuses a console sign-in without a role claim, makes no account, and says why', async () => {
    const before = await auditHead();
    const { b, callback } = await toCallback('nora');
    const res = await b.request(callback.href);
    expect(res.status).toBe(403);
    expect(res.text).toContain('no fairwatch console role');
    expect(b.cookie(con.url, 'fw_session')).toBeUndefined();
    expect(await t.platform.users.get('nora@riverside.example')).toBeNull();
    const rows = await auditSince(before);
    expect(rows).toEqual([expect.objectContaining({ action: 'sign-in', outcome: 'refused-403', actor: 'anonymous' })]);
    expect(rows[0]!.reason).toMatch(/^oidc:test: no-role: /);
  });

  it('refuses another domain, another tenant, and a name a local account already has', async () => {
    for (const [login, code] of [['eve', 'domain-not-allowed'], ['tess', 'required-claim'], ['bob', 'name-taken']] as const) {
      const before = await auditHead();
      const { b, callback } = await toCallback(login);
      const res = await b.request(callback.href);
      expect(res.status, login).toBe(403);
      expect((await auditSince(before)).map((r) => r.reason.split(': ')[1])).toEqual([code]);
    }
    // the local account is untouched
    expect(await t.platform.users.get('bob@riverside.example')).toMatchObject({ role: 'director' });
  });

  it('refuses a replayed state, a forged state and a callback finished in another browser', async () => {
    const { b, callback } = await toCallback('ian');
    expect((await b.request(callback.href)).status).toBe(200);
    const replay = await b.request(callback.href);
    expect(replay.status).toBe(400);
    expect(replay.text).toContain('unknown, already used or expired');

    const forged = new URL(callback.href);
    forged.searchParams.set('state', 'forged-state-value');
    expect((await b.request(forged.href)).status).toBe(400);

    // a victim is sent an attacker's half-finished sign-in: without the attacker's cookie it fails
    const { callback: attackers } = await toCallback('ian');
    const victim = hb();
    const res = await victim.request(attackers.href);
    expect(res.status).toBe(403);
    expect(res.text).toContain('started in another browser');
    expect(victim.cookie(con.url, 'fw_session')).toBeUndefined();
  });

  it('refuses a code used twice, a code issued to another client and a code from another provider', async () => {
    const first = await toCallback('ian');
    const code = first.callback.searchParams.get('code')!;
    expect((await first.b.request(first.callback.href)).status).toBe(200);
    const before = await auditHead();
    // the same code under a fresh, valid state of the same browser
    const again = await toCallback('ian', 'test', {}, first.b);
    const reuse = new URL(again.callback.href);
    reuse.searchParams.set('code', code);
    const r1 = await again.b.request(reuse.href);
    expect(r1.status).toBe(403);
    expect((await auditSince(before)).at(-1)!.reason).toMatch(/^oidc:test: token-invalid: /);

    // the attacker's own application at the same provider gets a code for dana...
    const attacker = hb();
    const auth = new URL(`${idp.issuer}/auth`);
    const verifierChallenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
    for (const [k, v] of Object.entries({ client_id: 'attacker-app', response_type: 'code', scope: 'openid email profile', redirect_uri: `${con.url}/auth/oidc/test/callback`, state: 'x', code_challenge: verifierChallenge, code_challenge_method: 'S256' })) auth.searchParams.set(k, v);
    const stolen = await attacker.follow(await attacker.request(auth.href), 'dana', isCallback);
    const wrongClientCode = stolen.stoppedAt!.searchParams.get('code')!;
    // ...and puts it into a sign-in of its own at fairwatch
    const mine = await toCallback('dana', 'test', {}, attacker);
    const injected = new URL(mine.callback.href);
    injected.searchParams.set('code', wrongClientCode);
    expect((await attacker.request(injected.href)).status).toBe(403);

    // a code from the second provider sent to the first provider's callback
    const other = await toCallback('gina', 'other');
    const mixed = await toCallback('ian', 'test', {}, other.b);
    const mixUp = new URL(mixed.callback.href);
    mixUp.searchParams.set('code', other.callback.searchParams.get('code')!);
    mixUp.searchParams.set('iss', idp2.issuer);
    expect((await other.b.request(mixUp.href)).status).toBe(403);
    expect(await t.platform.users.get('dana@riverside.example')).toMatchObject({ role: 'director' });
  });

  it('refuses ID tokens signed by the provider but for another audience, from another issuer, expired or with another nonce', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, (p: Record<string, unknown>) => Record<string, unknown>, RegExp]> = [
      ['audience', (p) => ({ ...p, aud: 'attacker-app', azp: 'attacker-app' }), /aud/i],
      ['issuer', (p) => ({ ...p, iss: idp2.issuer }), /iss/i],
      ['expired', (p) => ({ ...p, iat: now - 7200, exp: now - 3600 }), /exp|timestamp/i],
      ['nonce', (p) => ({ ...p, nonce: 'another-nonce' }), /nonce/i],
    ];
    for (const [name, change, message] of cases) {
      const { b, callback } = await toCallback('dana');
      const before = await auditHead();
      idp.tamper = change;
      const res = await b.request(callback.href);
      expect(idp.tamper, `${name}: the token endpoint was reached`).toBeNull();
      expect(res.status, name).toBe(403);
      expect(b.cookie(con.url, 'fw_session'), name).toBeUndefined();
      const row = (await auditSince(before)).at(-1)!;
      expect(row.reason, name).toMatch(/^oidc:test: token-invalid: /);
      expect(row.reason, name).toMatch(message);
    }
  });

  it('refuses a sign-in started from another site (CSRF), for the console and the shared-computer page', async () => {
    const b = hb();
    for (const path of ['/auth/oidc/test/start', '/sign-in/oidc/test']) {
      const r = await b.request(`${con.url}${path}`, { form: {}, headers: { origin: 'http://evil.example' } });
      expect(r.status, path).toBe(403);
      const r2 = await b.request(`${con.url}${path}`, { form: {}, headers: { origin: '', 'sec-fetch-site': 'cross-site' } });
      expect(r2.status, path).toBe(403);
    }
  });

  it('returns only to a page of the console after sign-in (no open redirect)', async () => {
    for (const [given, expected] of [['//evil.example/x', '/home'], ['https://evil.example/', '/home'], ['/\\evil.example', '/home'], ['/reports?x=1', '/reports?x=1']] as const) {
      const { b, callback } = await toCallback('ian', 'test', { return: given });
      const res = await b.request(callback.href);
      expect(res.status).toBe(200);
      const refresh = /http-equiv="refresh" content="0;url=([^"]*)"/.exec(res.text)?.[1];
      expect(refresh, given).toBe(expected.replace(/&/g, '&#38;'));
    }
  });
});

describe('shared computers and re-authentication', () => {
  it('refuses a shared-computer sign-in with no group claim, audited as staff-sign-in, and binds nothing', async () => {
    const client = t.platform.pseudonyms.client('127.0.0.1');
    await t.platform.redis.del(`fairwatch:sign-in:${client}`);
    const before = await auditHead();
    const b = hb();
    const start = await b.request(`${con.url}/sign-in/oidc/test`, { form: { t: '', return: '' } });
    expect(start.status).toBe(303);
    const { stoppedAt } = await b.follow(start, 'nora', isCallback);
    const res = await b.request(stoppedAt!.href);
    expect(res.status).toBe(403);
    expect(res.text).toContain('in no group fairwatch knows');
    expect(await signedInAs(t.platform.redis, client)).toBeNull();
    expect((await auditSince(before)).map((r) => [r.action, r.outcome, r.reason.split(': ')[1]])).toEqual([['staff-sign-in', 'refused-403', 'no-group']]);
  });

  it('refuses a console sign-in answer delivered to the shared-computer callback (and the reverse)', async () => {
    const { b, callback } = await toCallback('ian');
    const swapped = new URL(callback.href.replace('/auth/oidc/test/callback', '/sign-in/oidc/test/callback'));
    const res = await b.request(swapped.href);
    expect(res.status).toBe(400);
    expect(res.text).toContain('came back to the wrong address');
  });

  it('asks the provider to sign an already signed-in person in again (prompt=login, max_age) for re-authentication', async () => {
    const first = await toCallback('ian');
    expect((await first.b.request(first.callback.href)).status).toBe(200);
    const start = await first.b.request(`${con.url}/auth/oidc/test/start`, { form: { return: '/reports' } });
    expect(start.status).toBe(303);
    const auth = new URL(start.location!);
    expect(auth.searchParams.get('prompt')).toBe('login');
    expect(auth.searchParams.get('max_age')).toBe('300');
    let formShown = false;
    let res = await first.b.request(auth.href);
    for (let hop = 0; hop < 10 && res.location && !isCallback(new URL(res.location, res.url)); hop++) res = await first.b.request(new URL(res.location, res.url).href);
    if (res.text.includes('name="login"')) formShown = true;
    const done = await first.b.follow(res, 'ian', isCallback);
    expect(formShown, 'the provider asked again').toBe(true);
    const end = await first.b.request(done.stoppedAt!.href);
    expect(end.status).toBe(200);
    expect(end.text).toContain('url=/reports');
  });
});

describe('accounts made just in time and kept in step with the provider', () => {
  it('signs in with a Google-like provider (role from the email claim, group from hd)', async () => {
    const { b, callback } = await toCallback('gina', 'other');
    expect((await b.request(callback.href)).status).toBe(200);
    expect(await t.platform.users.get('gina@other.example')).toMatchObject({ role: 'director', group: 'staff' });
  });

  it('changes the role when the claims change, audited, and ends the old session', async () => {
    const first = await toCallback('dana');
    expect((await first.b.request(first.callback.href)).status).toBe(200);
    expect((await first.b.request(`${con.url}/home`)).status).toBe(200);
    const before = await auditHead();
    idp.accounts.set('dana', { ...idp.accounts.get('dana')!, roles: ['fw-it'] });
    const second = await toCallback('dana');
    expect((await second.b.request(second.callback.href)).status).toBe(200);
    expect(await t.platform.users.get('dana@riverside.example')).toMatchObject({ role: 'it' });
    expect((await auditSince(before)).map((r) => r.action)).toEqual(['user.access-from-directory', 'sign-in']);
    // the director session from before no longer opens director pages
    const old = await first.b.request(`${con.url}/home`);
    expect(old.status).toBe(401);
  });

  it('never writes a token or a code into the audit chain', async () => {
    const rows = await auditSince(0);
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) expect(JSON.stringify(r)).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}|code=/);
  });
});
