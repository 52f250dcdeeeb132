import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listExceptions } from '../../core/policy/person-state.ts';
import { createConsoleApp } from '../../dashboards/app.ts';
import { consoleDeps } from '../../dashboards/role.ts';
import { Sessions } from '../../dashboards/security/session.ts';
import { SESSION_COOKIE } from '../../dashboards/access.ts';
import { openConsole, PASSWORD, subjectEvent, type Account } from './harness.ts';

// The console attacked the way an outsider or a curious insider would: forged and expired
// cookies, cross-site forms, script in every free-text field, other people's ids, password
// guessing, replayed codes — on a real Redis and the embedded ClickHouse.

let h: Awaited<ReturnType<typeof openConsole>>;
let dana: Account, dora: Account, sam: Account, ian: Account, gina: Account;
let reportA = '', reportB = '';

const XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"];
function assertNoMarkup(html: string) {
  expect(html).not.toMatch(/<script|<img src=x|<svg onload/i);
}

beforeAll(async () => {
  h = await openConsole();
  dana = await h.addUser('dana', 'director', 'managers');
  dora = await h.addUser('dora', 'director', 'managers');
  sam = await h.addUser('sam', 'staff');
  ian = await h.addUser('ian', 'it', 'it');
  gina = await h.addUser('gina', 'it', 'it');
  reportA = await h.insertReport({ html: '<h1>A</h1>', json: { a: 1 } });
  reportB = await h.insertReport({ html: '<h1>B</h1>', json: { b: 2 } });
});
afterAll(async () => { await h?.cleanup(); });

describe('sessions', () => {
  it('refuses forged, tampered and unknown session cookies', async () => {
    const real = await h.sessionFor(dana);
    const forged = [
      `${SESSION_COOKIE}=${randomBytes(32).toString('base64url')}`,
      `${SESSION_COOKIE}=${real.id.slice(0, -1)}${real.id.endsWith('A') ? 'B' : 'A'}`,
      `${SESSION_COOKIE}=${createHash('sha256').update(real.id).digest('hex')}`, // the Redis key is not a cookie
      `${SESSION_COOKIE}=../../etc/passwd`,
      `fw_session_other=${real.id}`,
    ];
    for (const cookie of forged) expect((await h.request('GET', '/api/audit-log', { cookie })).status).toBe(401);
    expect((await h.request('GET', '/api/audit-log', { cookie: real.cookie })).status).toBe(200);
  });

  it('ends sessions past their absolute lifetime and after idle expiry', async () => {
    const old = new Sessions(h.p.redis, { idleMinutes: 30, maxHours: 12 }, () => Date.now() - 13 * 3_600_000);
    const stale = await h.sessionFor(dana, old);
    expect((await h.request('GET', '/inbox', { cookie: stale.cookie })).status).toBe(401);
    const idle = await h.sessionFor(dana);
    // idle expiry is the Redis TTL: let it run out
    await h.p.redis.pexpire(`fairwatch:session:${createHash('sha256').update(idle.id).digest('hex')}`, 1);
    await new Promise((r) => setTimeout(r, 20));
    expect((await h.request('GET', '/inbox', { cookie: idle.cookie })).status).toBe(401);
  });

  it('sets HttpOnly, SameSite=Strict cookies with a fresh id at each sign-in, and signs out', async () => {
    const res = await h.request('POST', '/api/session', { json: { username: 'sam', password: PASSWORD } });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const id = /fw_session=([^;]+)/.exec(cookie)![1]!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits
    expect((await h.request('GET', '/my', { cookie: `${SESSION_COOKIE}=${id}` })).status).toBe(200);
    expect((await h.request('DELETE', '/api/session', { cookie: `${SESSION_COOKIE}=${id}` })).status).toBe(200);
    expect((await h.request('GET', '/my', { cookie: `${SESSION_COOKIE}=${id}` })).status).toBe(401);
  });

  it('a disabled account loses its live session at the next request', async () => {
    const u = await h.addUser('temp', 'staff');
    const s = await h.sessionFor(u);
    expect((await h.request('GET', '/my', { cookie: s.cookie })).status).toBe(200);
    await h.p.users.disable('temp');
    expect((await h.request('GET', '/my', { cookie: s.cookie })).status).toBe(401);
  });
});

describe('sign-in', () => {
  it('requires TOTP for it and directors, refuses a replayed code, and audits each attempt without names', async () => {
    const noCode = await h.request('POST', '/api/session', { json: { username: 'ian', password: PASSWORD } });
    expect(noCode.status).toBe(401);
    const code = await h.totp(ian);
    expect((await h.request('POST', '/api/session', { json: { username: 'ian', password: PASSWORD, totp: code } })).status).toBe(200);
    const replay = await h.request('POST', '/api/session', { json: { username: 'ian', password: PASSWORD, totp: code } });
    expect(replay.status).toBe(401);
    const rows = (await h.deps.audit.list(5)).filter((r) => r.action === 'sign-in');
    expect(rows.map((r) => r.outcome).slice(0, 3)).toEqual(['refused-401', 'allowed', 'refused-401']);
    expect(rows[0]!.actor).toBe(ian.userId);
    const all = JSON.stringify(await h.deps.audit.list(1000));
    expect(all).not.toMatch(/"ian"|"dana"|nobody/);
  });

  it('locks an account after five failures, even for the right password, and from the form too', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await h.request('POST', '/api/session', { json: { username: 'gina', password: `guess ${i} wrong` } })).status).toBe(401);
    }
    const right = await h.request('POST', '/api/session', { json: { username: 'gina', password: PASSWORD, totp: await h.totp(gina) } });
    expect(right.status).toBe(429);
    expect(right.text).toMatch(/too many failed sign-ins/);
    const form = await h.request('POST', '/login', { form: { username: 'GINA', password: PASSWORD } });
    expect(form.status).toBe(429);
    expect((await h.deps.audit.list(1))[0]!.outcome).toBe('refused-429');
    await h.p.redis.del(...(await h.p.redis.keys('fairwatch:login-fail:*')));
  });

  it('spellings of one name the lookup treats as the same account share one lock (spaces, case, full-width)', async () => {
    // each spelling signs in as gina (the lookup normalises), so each must count against gina
    const spellings = [' gina', 'gina ', 'GINA', '\uff47\uff49\uff4e\uff41', '\tGina\u3000'];
    for (const [i, name] of spellings.entries()) {
      const res = await h.request('POST', '/api/session', { json: { username: name, password: `guess ${i} wrong` } });
      expect(res.status, JSON.stringify(name)).toBe(i < 5 ? 401 : 429);
    }
    // locked now: the right password under yet another spelling is refused too
    for (const name of ['gina', ' ＧＩＮＡ ', 'Gina']) {
      const right = await h.request('POST', '/api/session', { json: { username: name, password: PASSWORD, totp: await h.totp(gina) } });
      expect(right.status, JSON.stringify(name)).toBe(429);
    }
    expect(await h.p.redis.keys('fairwatch:login-fail:user:*')).toHaveLength(1);
    await h.p.redis.del(...(await h.p.redis.keys('fairwatch:login-fail:*')));
  });

  it('an unknown user name and a wrong password get the same answer', async () => {
    const a = await h.request('POST', '/api/session', { json: { username: 'no-such-person', password: PASSWORD } });
    const b = await h.request('POST', '/api/session', { json: { username: 'sam', password: 'wrong password!' } });
    expect(a.status).toBe(401);
    expect(a.text).toBe(b.text);
  });
});

describe('CSRF', () => {
  it('refuses a form posted from another origin, without acting on it', async () => {
    const s = await h.sessionFor(ian);
    const before = (await h.deps.authz.list({ requester: ian.userId })).length;
    const attempts: Array<Record<string, string>> = [{ origin: 'http://evil.example' }, { origin: 'null' }, { origin: 'http://localhost', 'sec-fetch-site': 'cross-site' }];
    for (const headers of attempts) {
      const res = await h.request('POST', `/reports/${reportA}/access-requests`, { cookie: s.cookie, form: { reason: 'csrf', _csrf: s.csrf }, headers });
      expect(res.status).toBe(403);
    }
    const api = await h.request('POST', `/api/reports/${reportA}/access-requests`, { cookie: s.cookie, json: { reason: 'csrf' }, headers: { origin: 'http://evil.example' } });
    expect(api.status).toBe(403);
    expect((await h.deps.authz.list({ requester: ian.userId })).length).toBe(before);
  });

  it('refuses a same-origin form without the session token, or with another session\'s token', async () => {
    const s = await h.sessionFor(ian);
    const other = await h.sessionFor(gina);
    expect((await h.request('POST', `/reports/${reportA}/access-requests`, { cookie: s.cookie, form: { reason: 'x' } })).status).toBe(403);
    expect((await h.request('POST', `/reports/${reportA}/access-requests`, { cookie: s.cookie, form: { reason: 'x', _csrf: other.csrf } })).status).toBe(403);
    expect((await h.request('POST', `/reports/${reportA}/access-requests`, { cookie: s.cookie, form: { reason: 'x', _csrf: s.csrf } })).status).toBe(303);
  });

  it('the JSON API refuses form bodies with 415 naming content-type, and acts on nothing', async () => {
    const s = await h.sessionFor(ian);
    const before = (await h.deps.authz.list({ requester: ian.userId })).length;
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await h.request('POST', `/api/reports/${reportA}/access-requests`, { cookie: s.cookie, headers: { 'content-type': type, origin: 'http://localhost' } });
      expect(res.status, type).toBe(415);
      expect(JSON.parse(res.text).error).toMatch(/^content-type: .* takes application\/json \(got (application\/x-www-form-urlencoded|multipart\/form-data)\)/);
    }
    const signIn = await h.request('POST', '/api/session', { form: { username: 'sam', password: PASSWORD } });
    expect(signIn.status).toBe(415);
    expect(signIn.headers.get('set-cookie')).toBeNull();
    expect((await h.deps.authz.list({ requester: ian.userId })).length).toBe(before);
    // the HTML pages still take their forms
    expect((await h.request('POST', '/login', { form: { username: 'sam', password: PASSWORD } })).status).toBe(303);
  });

  it('refuses a text/plain body (the one "simple" type a foreign page could send) on the API', async () => {
    const s = await h.sessionFor(ian);
    const res = await h.request('POST', `/api/reports/${reportA}/access-requests`, { cookie: s.cookie, headers: { 'content-type': 'text/plain', origin: 'http://localhost' } });
    expect([403, 415]).toContain(res.status);
  });
});

describe('escaping', () => {
  it('escapes script in reasons, refusals, allegations and block-page requests on every page that shows them', async () => {
    const it1 = await h.sessionFor(ian);
    for (const x of XSS) {
      expect((await h.request('POST', `/api/reports/${reportA}/access-requests`, { cookie: it1.cookie, json: { reason: x } })).status).toBe(201);
    }
    // a block-page request carries a pseudonym and a host the proxy saw: both are untrusted
    const exception = await h.deps.authz.request({ subject: 'work-exception', target: XSS[1]!, requester: XSS[2]!, reason: XSS[0]! });
    const d = await h.sessionFor(dana);
    const inbox = await h.request('GET', '/inbox', { cookie: d.cookie });
    expect(inbox.status).toBe(200);
    assertNoMarkup(inbox.text);
    expect(inbox.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(inbox.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(inbox.headers.get('content-security-policy')).not.toMatch(/script-src|unsafe-inline/);
    // refuse one with a hostile reason; the requester sees it escaped on their page
    const mine = await h.deps.authz.list({ requester: ian.userId, status: 'pending' });
    expect((await h.request('POST', `/api/access-requests/${mine[0]!.id}/refuse`, { cookie: d.cookie, json: { reason: XSS[1] } })).status).toBe(200);
    const my = await h.request('GET', '/my', { cookie: it1.cookie });
    assertNoMarkup(my.text);
    expect(my.text).toContain('&quot;&gt;&lt;img src=x');
    // an allegation full of markup
    const opened = await h.request('POST', '/api/investigations', { cookie: d.cookie, json: { subject: 'sam', allegation: XSS.join(' '), from: '2026-01-01', to: '2026-01-02', expires_in_minutes: 60 } });
    expect(opened.status).toBe(201);
    const view = await h.request('GET', `/investigations/${JSON.parse(opened.text).id}`, { cookie: d.cookie });
    expect(view.status).toBe(200);
    assertNoMarkup(view.text);
    const audit = await h.request('GET', '/audit', { cookie: d.cookie });
    assertNoMarkup(audit.text);
    expect(exception.id).toBeTruthy();
  });

  it('escapes values echoed from the query string and paths', async () => {
    const s = await h.sessionFor(ian);
    const res = await h.request('GET', `/policy-test?user=${encodeURIComponent(XSS[0]!)}&url=${encodeURIComponent(XSS[1]!)}`, { cookie: s.cookie });
    assertNoMarkup(res.text);
    const notFound = await h.request('GET', `/reports/${encodeURIComponent(XSS[0]!)}`, { cookie: (await h.sessionFor(dana)).cookie });
    assertNoMarkup(notFound.text);
  });
});

describe('IDOR and grants', () => {
  it('a grant on one report opens that report only, and only for its holder', async () => {
    await h.grant(gina, dana, 'report-access', reportA, 30);
    const g = await h.sessionFor(gina);
    expect((await h.request('GET', `/api/reports/${reportA}`, { cookie: g.cookie })).status).toBe(200);
    expect(JSON.parse((await h.request('GET', `/api/reports/${reportA}`, { cookie: g.cookie })).text).json).toEqual({ a: 1 });
    expect((await h.request('GET', `/api/reports/${reportB}`, { cookie: g.cookie })).status).toBe(403);
    expect((await h.request('GET', `/api/reports/${randomUUID()}`, { cookie: g.cookie })).status).toBe(403);
    expect((await h.request('GET', '/api/reports/not-a-uuid', { cookie: g.cookie })).status).toBe(403);
    expect((await h.request('GET', `/api/reports/${reportA}`, { cookie: (await h.sessionFor(ian)).cookie })).status).toBe(403);
    expect((await h.request('GET', `/api/reports/${randomUUID()}`, { cookie: (await h.sessionFor(dana)).cookie })).status).toBe(404);
  });

  it('a report whose ciphertext was changed in the table is refused, not shown', async () => {
    const id = await h.insertReport({ json: { secret: 'x' } });
    await h.p.store.command(`ALTER TABLE fairwatch.reports UPDATE ciphertext = concat('AAAA', substring(ciphertext, 5)) WHERE report_id = {id:UUID}`, { id }, { mutations_sync: '2' });
    const res = await h.request('GET', `/api/reports/${id}`, { cookie: (await h.sessionFor(dana)).cookie });
    expect(res.status).toBe(503);
    expect(res.text).toMatch(/cannot be opened/);
    expect(res.text).not.toContain('secret');
  });

  it('revocation takes effect at the very next access (the Redis cache is dropped)', async () => {
    const id = await h.grant(ian, dana, 'report-access', reportB, 30);
    const s = await h.sessionFor(ian);
    expect((await h.request('GET', `/api/reports/${reportB}`, { cookie: s.cookie })).status).toBe(200);
    expect((await h.request('POST', `/api/access-requests/${id}/revoke`, { cookie: (await h.sessionFor(dana)).cookie, json: { reason: 'done' } })).status).toBe(200);
    expect((await h.request('GET', `/api/reports/${reportB}`, { cookie: s.cookie })).status).toBe(403);
    // and a revoked grant cannot be revoked or approved again
    expect((await h.request('POST', `/api/access-requests/${id}/approve`, { cookie: (await h.sessionFor(dana)).cookie, json: { expires_in_minutes: 60 } })).status).toBe(409);
  });

  it('another director cannot see an investigation they did not open; the refusal is audited', async () => {
    const opened = await h.request('POST', '/api/investigations', { cookie: (await h.sessionFor(dana)).cookie, json: { subject: 'sam', allegation: 'misuse', from: '2026-01-01', to: '2026-01-02', expires_in_minutes: 60 } });
    const id = JSON.parse(opened.text).id as string;
    const res = await h.request('GET', `/api/investigations/${id}/activity`, { cookie: (await h.sessionFor(dora)).cookie });
    expect(res.status).toBe(403);
    const [row] = await h.deps.audit.list(1);
    expect(row).toMatchObject({ actor: dora.userId, action: 'investigation.view', target: id, outcome: 'refused-403' });
    // a report-access grant is not an investigation grant
    await h.grant(ian, dana, 'report-access', id, 30);
    expect((await h.request('GET', `/api/investigations/${id}/activity`, { cookie: (await h.sessionFor(ian)).cookie })).status).toBe(403);
    // the report id used as an investigation id is not found
    expect((await h.request('GET', `/api/investigations/${reportA}/activity`, { cookie: (await h.sessionFor(dana)).cookie })).status).toBe(404);
  });

  it('an IT person cannot approve their own request through the API', async () => {
    const s = await h.sessionFor(ian);
    const created = await h.request('POST', `/api/reports/${reportA}/access-requests`, { cookie: s.cookie, json: { reason: 'mine' } });
    const id = JSON.parse(created.text).id;
    expect((await h.request('POST', `/api/access-requests/${id}/approve`, { cookie: s.cookie, json: { expires_in_minutes: 60 } })).status).toBe(403);
    expect((await h.deps.authz.get(id))!.approval).toBeNull();
  });
});

describe('policy tester', () => {
  it('does not reveal a named person\'s work exceptions, and every test is audited with the person as target', async () => {
    // sam holds an approved exception for a gambling site
    const req = await h.deps.authz.request({ subject: 'work-exception', target: 'casino-research.example', requester: h.p.pseudonyms.user('sam'), reason: 'case work' });
    expect((await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: (await h.sessionFor(dana)).cookie, json: { expires_in_minutes: 60 } })).status).toBe(200);
    expect((await listExceptions(h.p.redis)).some((g) => g.id === req.id)).toBe(true);
    const s = await h.sessionFor(ian);
    const before = await h.deps.audit.count();
    const res = await h.request('GET', `/policy-test?user=sam&url=${encodeURIComponent('https://casino-research.example/')}`, { cookie: s.cookie });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(`exception:${req.id}`);
    expect(res.text).not.toMatch(/approved by a director, until/);
    expect(res.text).toMatch(/not applied here/);
    expect(await h.deps.audit.count()).toBe(before + 1);
    const [row] = await h.deps.audit.list(1);
    expect(row).toMatchObject({ actor: ian.userId, action: 'policy.test', target: sam.userId, outcome: 'allowed' });
    // a staff member trying it is refused, and that is audited too
    expect((await h.request('GET', '/policy-test?user=sam&url=x.example', { cookie: (await h.sessionFor(sam)).cookie })).status).toBe(403);
    expect((await h.deps.audit.list(1))[0]).toMatchObject({ actor: sam.userId, action: 'policy.test', outcome: 'refused-403' });
  });
});

describe('approvals', () => {
  it('approve needs a recent sign-in or the password again', async () => {
    const stale = new Sessions(h.p.redis, { idleMinutes: 30, maxHours: 12 }, () => Date.now() - 10 * 60_000);
    const s = await h.sessionFor(dana, stale);
    const req = await h.deps.authz.request({ subject: 'report-access', target: reportA, requester: ian.userId, reason: 'reauth' });
    const bare = await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: s.cookie, json: { expires_in_minutes: 60 } });
    expect(bare.status).toBe(403);
    expect(bare.text).toMatch(/re-authentication/);
    expect((await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: s.cookie, json: { expires_in_minutes: 60, password: 'wrong password' } })).status).toBe(403);
    const ok = await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: s.cookie, json: { expires_in_minutes: 60, password: PASSWORD } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).status).toBe('approved');
    await h.p.redis.del(...(await h.p.redis.keys('fairwatch:login-fail:*')));
  });

  it('rejects out-of-range expiries and a refusal without a reason, naming the field', async () => {
    const d = await h.sessionFor(dana);
    const req = await h.deps.authz.request({ subject: 'report-access', target: reportA, requester: ian.userId, reason: 'bounds' });
    for (const bad of [0, -5, 1.5, 'soon', 90 * 24 * 60 + 1]) {
      const res = await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: d.cookie, json: { expires_in_minutes: bad } });
      expect(res.status).toBe(400);
      expect(res.text).toMatch(/expires_in_minutes/);
    }
    const refuse = await h.request('POST', `/api/access-requests/${req.id}/refuse`, { cookie: d.cookie, json: {} });
    expect(refuse.status).toBe(400);
    expect(refuse.text).toMatch(/reason/);
  });

  it('approving a staff work exception hands it to the policy side with the pseudonym, target and expiry', async () => {
    const pseudonym = h.p.pseudonyms.user('sam');
    const req = await h.deps.authz.request({ subject: 'work-exception', target: 'research.example.org', requester: pseudonym, reason: 'safeguarding research' });
    const res = await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: (await h.sessionFor(dana)).cookie, json: { expires_in_minutes: 120 } });
    expect(res.status).toBe(200);
    const stored = (await listExceptions(h.p.redis)).find((g) => g.id === req.id)!;
    expect(stored).toMatchObject({ id: req.id, userPseudonym: pseudonym, host: 'research.example.org' });
    expect(stored.expiresAt).toBeGreaterThan(Date.now() + 100 * 60_000);
    // revoking it removes it from what the proxies apply
    const category = await h.deps.authz.request({ subject: 'work-exception', target: 'category:gambling', requester: pseudonym, reason: 'case work' });
    expect((await h.request('POST', `/api/access-requests/${category.id}/approve`, { cookie: (await h.sessionFor(dana)).cookie, json: { expires_in_minutes: 30 } })).status).toBe(200);
    expect((await listExceptions(h.p.redis)).find((g) => g.id === category.id)).toMatchObject({ category: 'gambling' });
    expect((await h.request('POST', `/api/access-requests/${category.id}/revoke`, { cookie: (await h.sessionFor(dana)).cookie, json: { reason: 'case closed' } })).status).toBe(200);
    expect((await listExceptions(h.p.redis)).find((g) => g.id === category.id)).toBeUndefined();
    // sam sees the outcome on their own page
    const my = await h.request('GET', '/api/my/requests', { cookie: (await h.sessionFor(sam)).cookie });
    expect(JSON.parse(my.text).requests.find((r: { id: string }) => r.id === req.id).status).toBe('approved');
  });

  it('a director cannot approve or refuse a work exception they asked for from a block page; another director can, and sees whose it is', async () => {
    // the block page names the requester by the pseudonym the proxy saw: here, dana's own
    const req = await h.deps.authz.request({ subject: 'work-exception', target: 'poker.example', requester: h.p.pseudonyms.user('dana'), reason: 'market research, honestly' });
    const d = await h.sessionFor(dana);
    for (const path of [`/api/access-requests/${req.id}/approve`, `/api/access-requests/${req.id}/refuse`]) {
      const res = await h.request('POST', path, { cookie: d.cookie, json: { expires_in_minutes: 60, reason: 'x', password: PASSWORD } });
      expect(res.status, path).toBe(403);
      expect(res.text).toMatch(/your own request: another director must decide/);
    }
    const form = await h.request('POST', `/requests/${req.id}/approve`, { cookie: d.cookie, form: { _csrf: d.csrf, expires_in_minutes: '60', password: PASSWORD } });
    expect(form.status).toBe(403);
    expect((await h.deps.authz.get(req.id))!.approval).toBeNull();
    expect((await listExceptions(h.p.redis)).find((g) => g.id === req.id)).toBeUndefined();
    // dana's inbox shows it as hers, waiting for someone else, with no form to decide it
    const own = await h.request('GET', '/inbox', { cookie: d.cookie });
    const row = /<tr id="req-([^"]+)">[\s\S]*?<\/tr>/g;
    const danaRow = [...own.text.matchAll(row)].find((m) => m[1] === req.id)![0];
    expect(danaRow).toMatch(/your own request/);
    expect(danaRow).not.toContain(`/requests/${req.id}/approve`);
    expect(JSON.parse((await h.request('GET', '/api/access-requests', { cookie: d.cookie })).text).map((r: { id: string }) => r.id)).not.toContain(req.id);
    // dora sees that a director asked for themselves, and who
    const o = await h.sessionFor(dora);
    const other = await h.request('GET', '/inbox', { cookie: o.cookie });
    const doraRow = [...other.text.matchAll(row)].find((m) => m[1] === req.id)![0];
    expect(doraRow).toMatch(/dana <strong class="own">\(a director, for themselves\)/);
    expect(doraRow).toContain(`/requests/${req.id}/approve`);
    expect((await h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: o.cookie, json: { expires_in_minutes: 60 } })).status).toBe(200);
    expect((await listExceptions(h.p.redis)).find((g) => g.id === req.id)).toMatchObject({ userPseudonym: h.p.pseudonyms.user('dana'), host: 'poker.example' });
    const audit = (await h.deps.audit.list(10)).filter((r) => r.target === req.id);
    expect(audit.map((r) => [r.actor, r.outcome])).toEqual(expect.arrayContaining([[dana.userId, 'refused-403'], [dora.userId, 'allowed']]));
  });

  it('two directors deciding the same request at once: exactly one decision is recorded', async () => {
    const req = await h.deps.authz.request({ subject: 'report-access', target: reportA, requester: ian.userId, reason: 'race' });
    const [a, b] = await Promise.all([
      h.request('POST', `/api/access-requests/${req.id}/approve`, { cookie: (await h.sessionFor(dana)).cookie, json: { expires_in_minutes: 60 } }),
      h.request('POST', `/api/access-requests/${req.id}/refuse`, { cookie: (await h.sessionFor(dora)).cookie, json: { reason: 'no' } }),
    ]);
    expect([a.status, b.status].filter((s) => s === 200)).toHaveLength(1);
    const state = (await h.deps.authz.get(req.id))!;
    expect(Boolean(state.approval) !== Boolean(state.refusal)).toBe(true);
  });
});

describe('four-eyes investigations and what they show', () => {
  it('needs a second director or the DPO, never the opener; then shows hosts, time online, downloads, uploads and blocks in scope only', async () => {
    const fourEyes = consoleDeps(h.p, { config: { ...h.p.config, console: { ...h.p.config.console, fourEyes: true } } });
    const app = createConsoleApp(fourEyes).app;
    const call = async (method: string, path: string, s: { cookie: string }, json?: unknown) => {
      const res = await app.request(path, { method, headers: { cookie: s.cookie, origin: 'http://localhost', ...(json ? { 'content-type': 'application/json' } : {}) }, body: json ? JSON.stringify(json) : undefined });
      return { status: res.status, body: await res.text() };
    };
    const subject = h.p.pseudonyms.user('sam');
    // yesterday 10:00 UTC: inside the events TTL (a date months ago would be dropped on insert)
    const base = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000 + 10 * 3_600_000;
    const from = new Date(base - 3_600_000).toISOString();
    const to = new Date(base + 2 * 3_600_000).toISOString();
    const ev = (min: number, extra: Record<string, unknown>) => subjectEvent(subject, base, min, { bytes_up: 100, ...extra });
    await h.p.store.insert('events', [
      ev(0, {}), ev(2, {}), ev(3, { host: 'files.example', filename: 'setup.exe', content_type: 'application/octet-stream' }),
      ev(4, { method: 'POST', host: 'upload.example', path: '/put', bytes_up: 5_000_000 }),
      ev(30, { host: 'casino.example', action: 'block', category: 'gambling', rule: 'rule:2', status: 403 }),
      ev(-600, { host: 'before-window.example' }),
      { ...ev(1, { host: 'someone-else.example' }), user_pseudonym: h.p.pseudonyms.user('ian') },
    ]);
    const d = await h.sessionFor(dana);
    const opened = await call('POST', '/api/investigations', d, { subject: 'sam', allegation: 'gambling at work', from, to, expires_in_minutes: 240 });
    expect(opened.status).toBe(201);
    const { id, status } = JSON.parse(opened.body);
    expect(status).toBe('pending');
    expect((await call('GET', `/api/investigations/${id}/activity`, d)).status).toBe(403);
    expect((await call('POST', `/api/access-requests/${id}/approve`, d, {})).status).toBe(403);
    const inbox = await call('GET', '/inbox', await h.sessionFor(dora));
    expect(inbox.body).toContain(`req-${id}`);
    expect(inbox.body).toMatch(/Pending requests: <span id="pending-count">[1-9]/);
    expect((await call('POST', `/api/access-requests/${id}/approve`, await h.sessionFor(dora), {})).status).toBe(200);
    const act = await call('GET', `/api/investigations/${id}/activity`, d);
    expect(act.status).toBe(200);
    const a = JSON.parse(act.body);
    expect(a.subject).toBe('sam');
    expect(a.requests).toBe(5);
    expect(a.visits.map((v: { host: string }) => v.host).sort()).toEqual(['casino.example', 'files.example', 'news.example', 'upload.example']);
    expect(a.downloads).toEqual([expect.objectContaining({ host: 'files.example', filename: 'setup.exe' })]);
    expect(a.uploads).toEqual([expect.objectContaining({ host: 'upload.example', bytes_up: 5_000_000 })]);
    expect(a.blocked).toEqual([expect.objectContaining({ host: 'casino.example', category: 'gambling' })]);
    // the reports' rule: 0–4 min is one session (4 + the 1 min minimum), 30 is another (1 min)
    expect(a.time_online_minutes).toBe(6);
    expect(act.body).not.toMatch(/someone-else|before-window/);
    // the DPO may be the second approver of an investigation, but decides nothing else
    const pat = await h.addUser('pat', 'dpo', 'managers');
    const second = JSON.parse((await call('POST', '/api/investigations', d, { subject: 'sam', allegation: 'second', from, to, expires_in_minutes: 60 })).body).id;
    const ps = await h.sessionFor(pat);
    expect((await call('GET', '/inbox', ps)).body).toContain(`req-${second}`);
    expect((await call('POST', `/api/access-requests/${second}/approve`, ps, {})).status).toBe(200);
    const rr = await h.deps.authz.request({ subject: 'report-access', target: reportA, requester: ian.userId, reason: 'dpo' });
    expect((await call('POST', `/api/access-requests/${rr.id}/approve`, ps, { expires_in_minutes: 60 })).status).toBe(403);
    expect((await call('GET', `/api/investigations/${second}/activity`, ps)).status).toBe(403);
    // kinds of record limit what is shown
    const narrow = await h.request('POST', '/api/investigations', { cookie: d.cookie, json: { subject: 'sam', allegation: 'downloads only', from, to, expires_in_minutes: 60, kinds: ['downloads'] } });
    const n = JSON.parse((await h.request('GET', `/api/investigations/${JSON.parse(narrow.text).id}/activity`, { cookie: d.cookie })).text);
    expect(n.visits).toBeUndefined();
    expect(n.blocked).toBeUndefined();
    expect(n.downloads).toHaveLength(1);
  });

  it('validates an investigation request field by field', async () => {
    const d = await h.sessionFor(dana);
    const good = { subject: 'sam', allegation: 'x', from: '2026-01-01', to: '2026-01-02', expires_in_minutes: 60 };
    for (const [patch, field] of [[{ allegation: '' }, 'allegation'], [{ subject: 'ghost' }, 'subject'], [{ to: '2025-01-01' }, 'to'], [{ from: 'yesterday' }, 'from'], [{ kinds: ['emails'] }, 'kinds'], [{ expires_in_minutes: 0 }, 'expires_in_minutes']] as const) {
      const res = await h.request('POST', '/api/investigations', { cookie: d.cookie, json: { ...good, ...patch } });
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(res.text).toContain(field);
    }
  });
});

describe('audit chain under concurrency', () => {
  it('fifty concurrent appends form one unbroken chain', async () => {
    const before = await h.deps.audit.count();
    await Promise.all(Array.from({ length: 50 }, (_, i) => h.deps.audit.append({ actor: 'system', actorRole: '', action: 'test', target: String(i), reason: '', outcome: 'allowed' })));
    expect(await h.deps.audit.count()).toBe(before + 50);
    const v = await h.deps.audit.verify();
    expect(v).toMatchObject({ ok: true, rows: before + 50 });
  });
});
