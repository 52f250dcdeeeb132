import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PageTokens } from '../../core/identity/page-token.ts';
import { bindingKey } from '../../core/identity/sign-in-binding.ts';
import { loadKey } from '../../core/keys.ts';
import { StaffPages } from '../../core/pages/index.ts';
import type { Platform } from '../../core/platform.ts';
import { startConsole } from '../../dashboards/role.ts';
import { openTestPlatform } from '../helpers/platform.ts';

// The console's staff pages attacked over real sockets (real console, managed redis-server,
// embedded ClickHouse). Two "computers" are two loopback addresses: 127.0.0.1 is the shared PC the
// proxy named in a sign-in link, 127.0.0.2 a colleague's computer the link was passed to.
// Sign-in links work once, and only from the computer they name; "Continue to the site" links go
// only to the site the signed token names.

const PASSWORD = 'a long test password';
const SHARED_PC = '127.0.0.1';
const OTHER_PC = '127.0.0.2';
let p: Platform;
let redis: Redis;
let cleanup: () => Promise<void>;
let stopConsole: () => Promise<void>;
let consoleUrl = '';
let pages: StaffPages;
let dataDir = '';
let setupFile: string | null = null;

beforeAll(async () => {
  const t = await openTestPlatform({ yaml: 'console: { port: 0 }\nidentity: { signInNetworks: [127.0.0.0/8] }\naup: { version: "7" }\n' });
  p = t.platform;
  redis = p.redis;
  cleanup = t.cleanup;
  await p.users.add({ username: 'bob', role: 'staff', group: 'volunteers', password: PASSWORD });
  await p.users.add({ username: 'carol', role: 'staff', group: 'staff', password: PASSWORD });
  dataDir = t.dataDir;
  const c = await startConsole(p);
  consoleUrl = c.url;
  setupFile = c.setupFile;
  stopConsole = c.stop;
  // what the proxy does: the same key, the same links
  pages = new StaffPages(p.config, new PageTokens(loadKey(t.dataDir, 'page-token', {})), consoleUrl);
});
afterAll(async () => {
  await stopConsole?.();
  await cleanup?.();
});

interface Answer { status: number; location?: string; body: string }

/** One HTTP request to the console from `from` (a loopback address standing for a computer). */
function call(method: 'GET' | 'POST', pathAndQuery: string, from: string, form?: Record<string, string>, extra: Record<string, string> = {}): Promise<Answer> {
  const u = new URL(pathAndQuery, consoleUrl);
  const body = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const r = request({
      host: u.hostname, port: u.port, method, path: u.pathname + u.search, localAddress: from,
      headers: { ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)), origin: consoleUrl } : {}), ...extra },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location, body: text }));
    });
    r.on('error', reject);
    r.setTimeout(10_000, () => r.destroy(new Error('timeout')));
    r.end(body);
  });
}

/** A sign-in link as the proxy makes it for the shared PC, and its parts. */
function signInLink(url = 'http://news.test/today') {
  const link = new URL(pages.signInLocation({ eventId: crypto.randomUUID(), url, at: new Date(), host: '' }, p.pseudonyms.client(SHARED_PC)));
  return { link, t: link.searchParams.get('t')!, ret: link.searchParams.get('return')! };
}

const bound = async (ip: string) => {
  const raw = await redis.get(bindingKey(p.pseudonyms.client(ip)));
  return raw ? (JSON.parse(raw) as { user: string }).user : null;
};

describe('sign-in links for shared computers', () => {
  it('a link passed to a colleague at another computer signs nobody in, on either computer', async () => {
    await redis.del(bindingKey(p.pseudonyms.client(SHARED_PC)), bindingKey(p.pseudonyms.client(OTHER_PC)));
    const { link, t, ret } = signInLink();
    const page = await call('GET', link.pathname + link.search, OTHER_PC);
    expect(page.status).toBe(403);
    expect(page.body).toMatch(/made for another computer/);
    const posted = await call('POST', '/sign-in', OTHER_PC, { t, return: ret, username: 'carol', password: PASSWORD });
    expect(posted.status).toBe(403);
    expect(posted.body).toMatch(/made for another computer/);
    expect(await bound(SHARED_PC)).toBeNull();
    expect(await bound(OTHER_PC)).toBeNull();
    // the link still works where it was made
    const mine = await call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'bob', password: PASSWORD });
    expect(mine.status).toBe(200);
    expect(mine.body).toContain('You are signed in');
    expect(await bound(SHARED_PC)).toBe('bob');
  });

  it('works once: the same link again (another person, the same computer) is refused and the binding stays', async () => {
    const { link, t, ret } = signInLink();
    expect((await call('GET', link.pathname + link.search, SHARED_PC)).status).toBe(200);
    // a mistyped password does not use the link up
    expect((await call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'bob', password: 'not the password' })).status).toBe(401);
    expect((await call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'bob', password: PASSWORD })).status).toBe(200);
    const again = await call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'carol', password: PASSWORD });
    expect(again.status).toBe(409);
    expect(again.body).toMatch(/already been used/);
    expect(await bound(SHARED_PC)).toBe('bob');
    expect((await call('GET', link.pathname + link.search, SHARED_PC)).status).toBe(409);
  });

  it('two submissions of one link at once: exactly one signs in', async () => {
    const { t, ret } = signInLink();
    const answers = await Promise.all([
      call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'bob', password: PASSWORD }),
      call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'carol', password: PASSWORD }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const winner = answers[0]!.status === 200 ? 'bob' : 'carol';
    expect(await bound(SHARED_PC)).toBe(winner);
  });
});

describe('"Continue to the site" goes only to the site the token names', () => {
  const EVIL = ['https://evil.example/phish', 'http://news.test.evil.example/', 'http://evil.example/?news.test', 'https://news.test@evil.example/', 'javascript:alert(1)//news.test'];

  it('/sign-in: a `return` elsewhere than the token\'s site is dropped; without a token there is no link at all', async () => {
    for (const [i, evil] of EVIL.entries()) {
      const { t } = signInLink('http://news.test/today');
      const page = await call('GET', `/sign-in?t=${encodeURIComponent(t)}&return=${encodeURIComponent(evil)}`, SHARED_PC);
      expect(page.status, evil).toBe(200);
      expect(page.body, evil).not.toMatch(/evil\.example|javascript:/);
      if (i > 1) continue; // each sign-in costs an argon2 check: two are enough for the form post
      const done = await call('POST', '/sign-in', SHARED_PC, { t, return: evil, username: 'bob', password: PASSWORD });
      expect(done.status, evil).toBe(200);
      expect(done.body, evil).not.toMatch(/evil\.example|javascript:/);
      expect(done.body).not.toContain('Continue to the site');
    }
    const bare = await call('GET', `/sign-in?return=${encodeURIComponent(EVIL[0]!)}`, SHARED_PC);
    expect(bare.body).not.toContain('evil.example');
    const bareDone = await call('POST', '/sign-in', SHARED_PC, { return: EVIL[0]!, username: 'bob', password: PASSWORD });
    expect(bareDone.status).toBe(200);
    expect(bareDone.body).not.toContain('evil.example');
    // the token's own site is offered
    const { t, ret } = signInLink('http://news.test/today?x=1');
    const good = await call('POST', '/sign-in', SHARED_PC, { t, return: ret, username: 'bob', password: PASSWORD });
    expect(good.body).toMatch(/<a class="button" href="http:\/\/news\.test\/today\?x=1">Continue to the site<\/a>/);
  });

  it('/aup: the same, on the page and after accepting', async () => {
    const aupLink = () => {
      const l = new URL(pages.aupLocation({ eventId: crypto.randomUUID(), at: new Date(), url: 'https://mail.test/inbox', host: 'mail.test', userPseudonym: p.pseudonyms.user('bob'), group: 'volunteers' }));
      return l.searchParams.get('t')!;
    };
    for (const evil of EVIL) {
      const t = aupLink();
      const page = await call('GET', `/aup?t=${encodeURIComponent(t)}&return=${encodeURIComponent(evil)}`, SHARED_PC);
      expect(page.status, evil).toBe(200);
      expect(page.body, evil).not.toMatch(/evil\.example|javascript:/);
      const accepted = await call('POST', '/aup', SHARED_PC, { t, return: evil });
      expect(accepted.status, evil).toBe(200);
      expect(accepted.body, evil).not.toMatch(/evil\.example|javascript:/);
    }
    expect((await call('GET', `/aup?return=${encodeURIComponent(EVIL[0]!)}`, SHARED_PC)).body).not.toContain('evil.example');
    const ok = await call('POST', '/aup', SHARED_PC, { t: aupLink(), return: 'https://mail.test/inbox' });
    expect(ok.body).toContain('href="https://mail.test/inbox"');
  });

  it('/continue: a foreign `return` is replaced by the token\'s site', async () => {
    const warn = pages.warn({ eventId: crypto.randomUUID(), at: new Date(), url: 'http://video.test/clip', host: 'video.test', userPseudonym: p.pseudonyms.user('bob'), group: 'staff' }, { category: 'audio-video', rule: 'rule:1', reason: 'x', continueMinutes: 5 });
    const t = /[?&]t=([^"&]+)/.exec(warn.html)![1]!;
    const r = await call('GET', `/continue?t=${t}&return=${encodeURIComponent(EVIL[0]!)}`, SHARED_PC);
    expect(r.status).toBe(303);
    expect(r.location).toBe('http://video.test/');
  });
});

describe('first run and links', () => {
  it('the setup link is written to a 0600 file in the 0700 data directory, not handed to the log', () => {
    expect(setupFile).toBe(join(dataDir, 'setup-link.txt'));
    expect(statSync(setupFile!).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(setupFile!, 'utf8')).toMatch(new RegExp(`^${consoleUrl.replace(/\./g, '\\.')}/setup/[A-Za-z0-9_-]{43}\n$`));
  });

  it('links on staff pages use the console\'s own address, not a Host header the browser made up', async () => {
    const page = await call('GET', '/sign-in', SHARED_PC, undefined, { host: 'evil.example' });
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('evil.example');
    expect(page.body).toContain(`action="${consoleUrl}/sign-in"`);
  });
});
