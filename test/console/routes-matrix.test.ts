import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../core/alerts/rules.ts';
import { LegalHolds } from '../../core/privacy/holds.ts';
import { buildConsoleApp } from '../../dashboards/role.ts';
import { openConsole, type Account } from './harness.ts';

// Every console route × every kind of caller, with the status each must get. The list of routes
// comes from the app itself: a route added without a line here fails the first test.

type Persona = 'none' | 'staff' | 'it' | 'itGrant' | 'itExpired' | 'itRevoked' | 'director';
const PERSONAS: Persona[] = ['none', 'staff', 'it', 'itGrant', 'itExpired', 'itRevoked', 'director'];

let h: Awaited<ReturnType<typeof openConsole>>;
let who: Record<Exclude<Persona, 'none'>, Account>;
let reportA = '';
/** requests and grants that the matrix decides belong to this account, so no persona's own rights change */
let other: Account;
let investigation = '';

interface Case {
  /** path parameters, made fresh for each call when the call changes state */
  params?: () => Promise<Record<string, string>>;
  json?: Record<string, unknown>;
  form?: Record<string, string>;
  expect: Record<Persona, number>;
}

const all = (n: number): Record<Persona, number> => Object.fromEntries(PERSONAS.map((p) => [p, n])) as Record<Persona, number>;
const signedIn = (n: number) => ({ ...all(n), none: 401 });
const itAndDirector = (n: number) => ({ none: 401, staff: 403, it: n, itGrant: n, itExpired: n, itRevoked: n, director: n });
const directorOnly = (n: number) => ({ none: 401, staff: 403, it: 403, itGrant: 403, itExpired: 403, itRevoked: 403, director: n });
const itOnly = (n: number) => ({ none: 401, staff: 403, it: n, itGrant: n, itExpired: n, itRevoked: n, director: 403 });
const grantHolders = (n: number) => ({ none: 401, staff: 403, it: 403, itGrant: n, itExpired: 403, itRevoked: 403, director: n });

const pendingRequest = async () => ({ id: (await h.deps.authz.request({ subject: 'report-access', target: reportA, requester: other.userId, reason: 'matrix' })).id });
const activeGrant = async () => ({ id: await h.grant(other, who.director, 'report-access', reportA, 60) });
const report = async () => ({ id: reportA });
const inv = async () => ({ id: investigation });
let investigationReport = '';
const invReport = async () => ({ id: investigation, rid: investigationReport });
const token = async () => ({ token: 'x'.repeat(43) });
/** a subject access request the director made, approved by someone else (the store checks only that it is not the requester) */
const approvedSar = async () => {
  const sam = (await h.deps.users.get('sam'))!;
  const r = await h.deps.authz.request({ subject: 'subject-access', target: sam.userId, requester: who.director.userId, reason: 'matrix', details: { subject_user_id: sam.userId } });
  await h.deps.authz.decide(r.id, 'approve', other.userId, { expiresAt: Date.now() + 3_600_000 });
  return { id: r.id };
};
const holdBody = () => ({ requesting_body: 'Police', reference: 'R/1', legal_basis: 'DPA 2018 Sch 2 para 2', usernames: ['sam'], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' });
const openHold = async () => ({ id: (await new LegalHolds(h.deps.store).open({ requestingBody: 'P', reference: 'R', legalBasis: 'B', subjects: ['x'], from: new Date(0), to: new Date(1000), actor: 'matrix' })).id });
let freshN = 0;
const freshStaff = async () => ({ id: (await h.addUser(`matrix-staff-${freshN++}`, 'staff')).userId });
const freshIt = async () => ({ id: (await h.addUser(`matrix-it-${freshN++}`, 'it', 'it')).userId });
/** a fresh open alert about sam (each call a new window, so a new alert) */
let alertN = 0;
const freshAlert = async () => {
  // recent hours: the alerts table's TTL would drop an old window at the next merge
  const from = (Math.floor(Date.now() / 3_600_000) - 1 - alertN++) * 3_600_000;
  const id = alertId(h.deps.pseudonyms.user('sam'), 'adult', 'hour', from);
  await h.deps.alerts.write([{ window: { id, pseudonym: h.deps.pseudonyms.user('sam'), category: 'adult', kind: 'hour', from, to: from + 3_600_000, threshold: 3 }, attempts: 4, firstSeen: from + 60_000, lastSeen: from + 120_000 }], Date.now());
  return { id };
};
const openBody = () => ({ subject: 'sam', allegation: 'matrix', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', expires_in_minutes: 60 });

const CASES: Record<string, Case> = {
  'GET /static/console.css': { expect: all(200) },
  'GET /proxy.pac': { expect: all(200) },
  'GET /wpad.dat': { expect: all(200) },
  'GET /': { expect: all(303) },
  'GET /login': { expect: all(200) },
  'POST /login': { form: { username: 'nobody', password: 'wrong password' }, expect: all(401) },
  'POST /api/session': { json: { username: 'nobody', password: 'wrong password' }, expect: all(401) },
  'POST /logout': { form: {}, expect: signedIn(303) },
  'DELETE /api/session': { expect: signedIn(200) },
  // OpenID sign-in (test/console/oidc.test.ts drives it against a real provider): no provider here
  'POST /auth/oidc/:id/start': { params: async () => ({ id: 'nope' }), form: {}, expect: all(404) },
  'GET /auth/oidc/:id/callback': { params: async () => ({ id: 'nope' }), expect: all(400) },
  'GET /setup/:token': { params: token, expect: all(404) },
  'POST /setup/:token': { params: token, form: { username: 'eve', password: 'a long enough password' }, expect: all(403) },
  'GET /my': { expect: signedIn(200) },
  'GET /api/my/requests': { expect: signedIn(200) },
  'GET /reports': { expect: itAndDirector(200) },
  'GET /api/reports': { expect: itAndDirector(200) },
  'GET /reports/:id': { params: report, expect: grantHolders(200) },
  'GET /api/reports/:id': { params: report, expect: grantHolders(200) },
  'POST /reports/:id/export': { params: report, form: {}, expect: grantHolders(200) },
  'POST /reports/:id/access-requests': { params: report, form: { reason: 'monthly review' }, expect: itOnly(303) },
  'POST /api/reports/:id/access-requests': { params: report, json: { reason: 'monthly review' }, expect: itOnly(201) },
  'GET /policy-test': { expect: itAndDirector(200) },
  'GET /lists': { expect: itAndDirector(200) },
  'GET /inbox': { expect: directorOnly(200) },
  'POST /requests/:id/approve': { params: pendingRequest, form: { expires_in_minutes: '60' }, expect: directorOnly(303) },
  'POST /requests/:id/refuse': { params: pendingRequest, form: { reason: 'not needed' }, expect: directorOnly(303) },
  'POST /requests/:id/revoke': { params: activeGrant, form: { reason: 'done' }, expect: directorOnly(303) },
  'POST /api/access-requests/:id/approve': { params: pendingRequest, json: { expires_in_minutes: 60 }, expect: directorOnly(200) },
  'POST /api/access-requests/:id/refuse': { params: pendingRequest, json: { reason: 'not needed' }, expect: directorOnly(200) },
  'POST /api/access-requests/:id/revoke': { params: activeGrant, json: { reason: 'done' }, expect: directorOnly(200) },
  'GET /api/access-requests': { expect: directorOnly(200) },
  'GET /grants': { expect: directorOnly(200) },
  'GET /audit': { expect: directorOnly(200) },
  'GET /api/audit-log': { expect: directorOnly(200) },
  'POST /api/subject-access': { json: { username: 'sam', reason: 'matrix' }, expect: directorOnly(201) },
  'POST /api/subject-access/:id/export': { params: approvedSar, json: {}, expect: directorOnly(200) },
  'GET /api/legal-holds': { expect: directorOnly(200) },
  'POST /api/legal-holds': { json: holdBody(), expect: directorOnly(201) },
  'POST /api/legal-holds/:id/release': { params: openHold, json: { reason: 'done' }, expect: directorOnly(200) },
  'GET /api/disclosures': { expect: directorOnly(200) },
  'GET /legal-holds': { expect: directorOnly(200) },
  'POST /legal-holds': { form: { requesting_body: 'Police', reference: 'R/2', legal_basis: 'DPA 2018 Sch 2 para 2', usernames: 'sam', from: '2026-01-01', to: '2026-01-02' }, expect: directorOnly(303) },
  'POST /legal-holds/:id/release': { params: openHold, form: { reason: 'done' }, expect: directorOnly(303) },
  'GET /disclosures': { expect: directorOnly(200) },
  'GET /privacy/dpia': { expect: directorOnly(200) },
  'GET /privacy/dpia.md': { expect: directorOnly(200) },
  'GET /investigations': { expect: itAndDirector(200) },
  'GET /investigations/new': { expect: directorOnly(200) },
  'POST /investigations': { form: openBody() as unknown as Record<string, string>, expect: directorOnly(303) },
  'POST /api/investigations': { json: openBody(), expect: directorOnly(201) },
  'GET /investigations/:id': { params: inv, expect: grantHolders(200) },
  'GET /api/investigations/:id/activity': { params: inv, expect: grantHolders(200) },
  'POST /investigations/:id/evidence': { params: inv, form: {}, expect: grantHolders(200) },
  'POST /api/investigations/:id/evidence': { params: inv, json: {}, expect: grantHolders(200) },
  'GET /home': { expect: itAndDirector(200) },
  'GET /api/overview': { expect: itAndDirector(200) },
  'GET /health': { expect: itAndDirector(200) },
  'GET /api/health': { expect: itAndDirector(200) },
  'POST /investigations/:id/report': { params: inv, form: {}, expect: grantHolders(303) },
  'POST /api/investigations/:id/report': { params: inv, json: {}, expect: grantHolders(201) },
  'GET /investigations/:id/reports/:rid': { params: invReport, expect: grantHolders(200) },
  'POST /investigations/:id/reports/:rid/export': { params: invReport, form: {}, expect: grantHolders(200) },
  'GET /people': { expect: itAndDirector(200) },
  'GET /api/users': { expect: itAndDirector(200) },
  'POST /people': { form: { username: 'fresh', role: 'staff', group: 'staff' }, expect: itAndDirector(200) },
  'POST /api/users': { json: { username: 'fresh', role: 'staff', group: 'staff' }, expect: itAndDirector(201) },
  'POST /people/import': { form: { csv: 'username,role,group\nfresh,staff,staff\n' }, expect: itAndDirector(200) },
  'POST /api/users/import': { json: { csv: 'username,role,group\nfresh,staff,staff\n' }, expect: itAndDirector(201) },
  'POST /people/:id/disable': { params: freshStaff, form: {}, expect: itAndDirector(200) },
  'POST /people/:id/enable': { params: freshStaff, form: {}, expect: itAndDirector(200) },
  'POST /people/:id/reset-password': { params: freshStaff, form: {}, expect: itAndDirector(200) },
  'POST /people/:id/reset-authenticator': { params: freshIt, form: {}, expect: itAndDirector(200) },
  'POST /api/users/:id/disable': { params: freshStaff, json: {}, expect: itAndDirector(200) },
  'POST /api/users/:id/enable': { params: freshStaff, json: {}, expect: itAndDirector(200) },
  'POST /api/users/:id/reset-password': { params: freshStaff, json: {}, expect: itAndDirector(200) },
  'POST /api/users/:id/reset-authenticator': { params: freshIt, json: {}, expect: itAndDirector(200) },
  'GET /account/:token': { params: token, expect: all(404) },
  'POST /account/:token': { params: token, form: { password: 'a long enough password', again: 'a long enough password' }, expect: all(404) },
  'POST /my/password': { form: { password: 'correct horse battery staple', new_password: 'correct horse battery staple', again: 'correct horse battery staple' }, expect: signedIn(303) },
  'POST /api/my/password': { json: { password: 'correct horse battery staple', new_password: 'correct horse battery staple', again: 'correct horse battery staple' }, expect: signedIn(200) },
  'GET /api/my/visits': { expect: signedIn(200) },
  'POST /my/accident': { form: { event_id: 'not-a-visit' }, expect: signedIn(400) },
  'POST /api/my/accident': { json: { event_id: 'not-a-visit' }, expect: signedIn(400) },
  'POST /my/concern': { form: { concern: 'matrix concern' }, expect: signedIn(303) },
  'POST /api/my/concern': { json: { concern: 'matrix concern', named: true }, expect: signedIn(201) },
  // SCIM provisioning (test/console/scim.test.ts drives it with its bearer token): off here, so 404 whoever asks
  'GET /scim/v2/Users': { expect: all(404) },
  'GET /scim/v2/Users/:id': { params: freshStaff, expect: all(404) },
  'POST /scim/v2/Users': { json: { userName: 'matrix-scim' }, expect: all(404) },
  'PATCH /scim/v2/Users/:id': { params: freshStaff, json: {}, expect: all(404) },
  'PUT /scim/v2/Users/:id': { params: freshStaff, json: {}, expect: all(404) },
  'DELETE /scim/v2/Users/:id': { params: freshStaff, expect: all(404) },
  'GET /scim/v2/Groups': { expect: all(404) },
  'GET /scim/v2/Groups/:id': { params: token, expect: all(404) },
  'POST /scim/v2/Groups': { json: { displayName: 'matrix' }, expect: all(404) },
  'PATCH /scim/v2/Groups/:id': { params: token, json: {}, expect: all(404) },
  'DELETE /scim/v2/Groups/:id': { params: token, expect: all(404) },
  'GET /scim/v2/ServiceProviderConfig': { expect: all(404) },
  'GET /alerts': { expect: directorOnly(200) },
  'GET /api/alerts': { expect: directorOnly(200) },
  'GET /alerts/:id': { params: freshAlert, expect: directorOnly(200) },
  'POST /alerts/:id/investigate': { params: freshAlert, form: { allegation: 'matrix' }, expect: directorOnly(303) },
  'POST /api/alerts/:id/investigation': { params: freshAlert, json: { allegation: 'matrix' }, expect: directorOnly(201) },
  'POST /alerts/:id/dismiss': { params: freshAlert, form: { reason: 'matrix' }, expect: directorOnly(200) },
  'POST /api/alerts/:id/dismiss': { params: freshAlert, json: { reason: 'matrix' }, expect: directorOnly(200) },
  'POST /investigations/:id/delegate': { params: inv, form: { username: 'ian', expires_in_minutes: '60' }, expect: { ...directorOnly(303), itGrant: 403 } },
};

/** Routes the staff pages (core/pages, dashboards/staff-pages.ts) mount on the console. */
const STAFF_PAGE_ROUTES = [
  'GET /static/staff.css', 'GET /transparency', 'GET /aup', 'POST /aup', 'GET /sign-in', 'POST /sign-in', 'POST /sign-out',
  'GET /request-exception', 'POST /request-exception', 'GET /report-accident', 'POST /report-accident', 'GET /continue',
];

beforeAll(async () => {
  h = await openConsole();
  const director = await h.addUser('dana', 'director', 'managers');
  const staff = await h.addUser('sam', 'staff');
  who = {
    staff, director,
    it: await h.addUser('ian', 'it', 'it'),
    itGrant: await h.addUser('gina', 'it', 'it'),
    itExpired: await h.addUser('eddie', 'it', 'it'),
    itRevoked: await h.addUser('rita', 'it', 'it'),
  };
  other = await h.addUser('olly', 'it', 'it');
  reportA = await h.insertReport({ html: '<h1>Audit</h1>', json: { hosts: 3 } });
  const opened = await h.request('POST', '/api/investigations', { ...(await h.sessionFor(director)), json: openBody() });
  expect(opened.status).toBe(201);
  investigation = JSON.parse(opened.text).id;
  const produced = await h.request('POST', `/api/investigations/${investigation}/report`, { ...(await h.sessionFor(director)), json: {} });
  expect(produced.status).toBe(201);
  investigationReport = JSON.parse(produced.text).report_id;
  for (const [subject, target] of [['report-access', reportA], ['investigation-access', investigation]] as const) {
    await h.grant(who.itGrant, director, subject, target, 60);
    await h.grant(who.itExpired, director, subject, target, 1, 2 * 60_000); // approved 2 min ago for 1 min
    const revoked = await h.grant(who.itRevoked, director, subject, target, 60);
    await h.deps.authz.decide(revoked, 'revoke', director.userId, { reason: 'no longer needed' });
  }
});
afterAll(async () => { await h?.cleanup(); });

describe('route × caller matrix', () => {
  it('has an expectation for every route the app serves, and no stale ones', () => {
    const served = h.rules.map((r) => `${r.method} ${r.path}`);
    for (const key of served) expect(CASES[key], `route ${key} has no line in the security matrix`).toBeDefined();
    for (const key of Object.keys(CASES)) expect(served, `matrix line ${key} names no route`).toContain(key);
  });

  it('every route of the console as served (with the staff pages mounted) is in the matrix or the staff-page list', async () => {
    const served = buildConsoleApp(h.p, h.deps).app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`);
    for (const key of new Set(served)) {
      expect(CASES[key] !== undefined || STAFF_PAGE_ROUTES.includes(key), `route ${key} is served but has no line in the security matrix`).toBe(true);
    }
  });

  it('staff-page routes (block-page links, AUP, sign-in; token-checked, tested in test/pages) answer the same whoever holds a console session, never 5xx', async () => {
    const app = buildConsoleApp(h.p, h.deps).app;
    const failures: string[] = [];
    for (const key of STAFF_PAGE_ROUTES) {
      const [method, path] = key.split(' ') as [string, string];
      const statuses = new Set<number>();
      for (const persona of PERSONAS) {
        const sess = persona === 'none' ? null : await h.sessionFor(who[persona]);
        const res = await app.request(path, {
          method, redirect: 'manual',
          headers: { ...(sess ? { cookie: sess.cookie } : {}), ...(method === 'POST' ? { origin: 'http://localhost', 'content-type': 'application/x-www-form-urlencoded' } : {}) },
          body: method === 'POST' ? 't=forged-token&reason=x' : undefined,
        });
        statuses.add(res.status);
        if (res.status >= 500) failures.push(`${key} as ${persona}: ${res.status}`);
      }
      if (statuses.size !== 1) failures.push(`${key}: answers depend on the console session: ${[...statuses].join(', ')}`);
    }
    expect(failures).toEqual([]);
  }, 240_000);

  it('report, investigation and alert routes are all audited', () => {
    for (const r of h.rules.filter((r) => /^\/(api\/)?(reports|investigations|alerts)/.test(r.path))) {
      expect(r.audit, `${r.method} ${r.path} must write an audit row`).toBeTruthy();
    }
  });

  for (const persona of PERSONAS) {
    it(`answers every route as expected for ${persona}`, async () => {
      const failures: string[] = [];
      for (const rule of h.rules) {
        const key = `${rule.method} ${rule.path}`;
        const c = CASES[key]!;
        const params = c.params ? await c.params() : {};
        const path = rule.path.replace(/:(\w+)/g, (_, n: string) => params[n]!);
        const sess = persona === 'none' ? null : await h.sessionFor(who[persona]);
        const form: Record<string, string> | undefined = c.form ? { ...c.form, ...(sess ? { _csrf: sess.csrf } : {}) } : undefined;
        // sign-in failures use a fresh name each time so the account lockout does not kick in here
        if (form?.username === 'nobody') form.username = `nobody-${persona}`;
        if (form?.username === 'fresh') form.username = `fresh-${persona}-${freshN++}`;
        if (form?.csv) form.csv = form.csv.replace('fresh', `fresh-csv-${persona}-${freshN++}`);
        const json00 = typeof c.json?.csv === 'string' ? { ...c.json, csv: c.json.csv.replace('fresh', `fresh-csv-api-${persona}-${freshN++}`) } : c.json;
        const json0 = c.json?.username === 'fresh' ? { ...c.json, username: `fresh-api-${persona}-${freshN++}` } : json00;
        const json = c.json?.username === 'nobody' ? { ...c.json, username: `nobody-api-${persona}` } : json0;
        const auditBefore = await h.deps.audit.count();
        const res = await h.request(rule.method, path, { cookie: sess?.cookie, json, form });
        if (res.status !== c.expect[persona]) failures.push(`${key} as ${persona}: got ${res.status}, want ${c.expect[persona]} (${res.text.slice(0, 120)})`);
        if (rule.audit) {
          const [last] = await h.deps.audit.list(1);
          const added = (await h.deps.audit.count()) - auditBefore;
          if (added !== 1 || last!.action !== rule.audit || last!.outcome !== (res.status < 400 ? 'allowed' : `refused-${res.status}`) || last!.actor !== (sess ? who[persona as Exclude<Persona, 'none'>].userId : 'anonymous')) {
            failures.push(`${key} as ${persona}: audit row missing or wrong (${added} added, last ${JSON.stringify(last)})`);
          }
        }
      }
      expect(failures).toEqual([]);
    }, 240_000);
  }

  it('the chain is intact after all of it', async () => {
    const v = await h.deps.audit.verify();
    expect(v.ok).toBe(true);
    expect(v.rows).toBeGreaterThan(100);
  });

  it('unknown routes are 404 with or without a session; a wrong method is 404 too', async () => {
    const sess = await h.sessionFor(who.director);
    for (const path of ['/nope', '/api/nope', '/reports/x/y/z', '/admin']) {
      expect((await h.request('GET', path)).status).toBe(404);
      expect((await h.request('GET', path, { cookie: sess.cookie })).status).toBe(404);
    }
    expect((await h.request('GET', `/requests/${randomUUID()}/approve`, { cookie: sess.cookie })).status).toBe(404);
  });
});
