import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import { provisionExternal } from '../../core/identity/just-in-time.ts';
import { bindSignIn, signedInAs } from '../../core/identity/sign-in-binding.ts';
import { issueScimToken } from '../../core/identity/scim-token.ts';
import { ScimUsers, ScimError } from '../../core/identity/scim.ts';
import { consoleDeps, startConsole } from '../../dashboards/role.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { startTestIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { HttpBrowser } from './oidc-http.ts';

// SCIM 2.0 provisioning as Microsoft Entra ID sends it (the request bodies below are Entra's
// documented samples), against the real console on a socket with real ClickHouse and Redis.

const files = tempDir();
const ca = createCa(files.dir, { organisation: 'SCIM Test CA' });
const caFile = join(files.dir, 'idp-ca.pem');
writeFileSync(caFile, ca.certPem);
let idp: TestIdp;
let ISSUER = '';
const config = () => `organisation: { name: "Riverside Care" }
console: { port: 0 }
identity:
  oidc:
    - id: entra
      displayName: Riverside 365
      issuer: ${ISSUER}
      clientId: fairwatch
      clientSecret: oidc-client-secret-0123456789
      caFile: ${caFile}
      usernameClaim: email
      roles: { fw-it: it }
  scim:
    enabled: true
    provider: entra
    groups: { "FW Managers": managers, "0b5e-volunteers-object-id": volunteers }
    defaultGroup: staff
`;

let t: Awaited<ReturnType<typeof openTestPlatform>>;
let con: Awaited<ReturnType<typeof startConsole>>;
let token = '';
let base = '';
const audit = () => consoleDeps(t.platform).audit;
const SCIM = 'application/scim+json';

async function scim(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': SCIM } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', json: text ? JSON.parse(text) as Record<string, unknown> : null, headers: res.headers };
}

const entraCreate = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  userName,
  active: true,
  emails: [{ primary: true, type: 'work', value: userName }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
  ...extra,
});
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

beforeAll(async () => {
  idp = await startTestIdp(new LeafMinter(ca));
  ISSUER = idp.issuer;
  t = await openTestPlatform({ yaml: config() });
  con = await startConsole(t.platform);
  await idp.configure([{ client_id: 'fairwatch', client_secret: 'oidc-client-secret-0123456789', redirect_uris: [`${con.url}/auth/oidc/entra/callback`] }]);
  idp.accounts.set('lee', { email: 'Lee.Hart@riverside.example', email_verified: true, roles: ['fw-it'] });
  base = `${con.url}/scim/v2`;
  // what `fairwatch users scim-token` does: only the hash is kept
  token = issueScimToken(t.dataDir, t.platform.config.identity.scim!).token;
  await t.platform.users.add({ username: 'dana@riverside.example', role: 'director', group: 'managers', password: 'correct horse battery staple' });
}, 120_000);

afterAll(async () => {
  await con?.stop();
  await idp?.close();
  await t?.cleanup();
  files.cleanup();
});

describe('SCIM provisioning as Entra ID sends it', () => {
  let id = '';

  it('answers the filter query for an unknown user with an empty list, then creates the user with no password, role staff', async () => {
    const q = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "Sam.Jones@Riverside.example"')}`);
    expect(q.status).toBe(200);
    expect(q.type).toContain(SCIM);
    expect(q.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [] });
    const c = await scim('POST', '/Users', entraCreate('Sam.Jones@Riverside.example'));
    expect(c.status).toBe(201);
    expect(c.json).toMatchObject({ userName: 'sam.jones@riverside.example', active: true, meta: { resourceType: 'User' } });
    id = c.json!.id as string;
    expect(c.headers.get('location')).toBe(`${base}/Users/${id}`);
    const rec = (await t.platform.users.getById(id))!;
    expect(rec).toMatchObject({ username: 'sam.jones@riverside.example', role: 'staff', group: 'staff', disabled: false, passwordHash: '' });
    const again = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "sam.jones@riverside.example"')}`);
    expect(again.json).toMatchObject({ totalResults: 1, Resources: [{ id, userName: 'sam.jones@riverside.example', active: true }] });
    // a form-style query ('+' for spaces), as some clients send it
    const plus = await scim('GET', '/Users?filter=userName+eq+%22SAM.JONES%40riverside.example%22');
    expect(plus.json).toMatchObject({ totalResults: 1, Resources: [{ id }] });
    expect((await scim('GET', `/Users/${id}`)).json).toMatchObject({ id, active: true });
    const dup = await scim('POST', '/Users', entraCreate('sam.jones@riverside.example'));
    expect(dup.status).toBe(409);
    expect(dup.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '409', scimType: 'uniqueness' });
    const [row] = await audit().list(1);
    expect(row).toMatchObject({ action: 'user.scim-create', target: id, actor: 'scim:entra', outcome: 'allowed' });
    expect(row!.reason).not.toContain('sam');
  });

  it('the OpenID sign-in of that person links to the SCIM record (one record)', async () => {
    const d = { users: t.platform.users, accounts: consoleDeps(t.platform).externalAccounts, audit: audit() };
    const r = await provisionExternal(d, { providerId: 'entra', issuer: ISSUER, subject: 'sub-sam', username: 'sam.jones@riverside.example', role: null, group: null, fallbackGroup: 'staff' });
    expect(r).toMatchObject({ ok: true, created: false, user: { userId: id } });
  });

  it('accepts Entra\'s attribute replace (attributes fairwatch does not keep are ignored)', async () => {
    const r = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, active: true });
  });

  it('group membership moves the user into the mapped fairwatch group; removal back to the default', async () => {
    const g = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], externalId: '8aa1a0c0', displayName: 'FW Managers', meta: { resourceType: 'Group' } });
    expect(g.status).toBe(201);
    const gid = g.json!.id as string;
    const found = await scim('GET', `/Groups?filter=${encodeURIComponent('displayName eq "FW Managers"')}&excludedAttributes=members`);
    expect(found.json).toMatchObject({ totalResults: 1 });
    const add = await scim('PATCH', `/Groups/${gid}`, { schemas: [PATCH_OP], Operations: [{ name: 'addMember', op: 'Add', path: 'members', value: [{ $ref: null, value: id }] }] });
    expect(add.status).toBe(204);
    expect((await t.platform.users.getById(id))!.group).toBe('managers');
    expect((await audit().list(1))[0]).toMatchObject({ action: 'user.scim-group', target: id });
    await scim('PATCH', `/Groups/${gid}`, { schemas: [PATCH_OP], Operations: [{ name: 'removeMember', op: 'Remove', path: 'members', value: [{ $ref: null, value: id }] }] });
    expect((await t.platform.users.getById(id))!.group).toBe('staff');
    // mapped by externalId (Entra's object id)
    const v = await scim('POST', '/Groups', { displayName: 'Volunteers (all sites)', externalId: '0b5e-volunteers-object-id', members: [{ value: id }] });
    expect(v.status).toBe(201);
    expect((await t.platform.users.getById(id))!.group).toBe('volunteers');
  });

  it('a leaver (PATCH Replace active false) is disabled, not deleted: sessions end, the OpenID sign-in is refused, audited by id', async () => {
    const deps = consoleDeps(t.platform);
    const { id: sessionId } = await deps.sessions.create(id, 'staff');
    await bindSignIn(t.platform.redis, 'client-sam', { user: 'sam.jones@riverside.example', group: 'staff' }, 8);
    await bindSignIn(t.platform.redis, 'client-kim', { user: 'kim.other@riverside.example', group: 'staff' }, 8);
    const r = await scim('PATCH', `/Users/${id}`, { Operations: [{ op: 'Replace', path: 'active', value: false }], schemas: [PATCH_OP] });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, active: false });
    const rec = (await t.platform.users.getById(id))!;
    expect(rec.disabled).toBe(true);
    expect(await deps.sessions.get(sessionId)).toBeNull();
    expect(await signedInAs(t.platform.redis, 'client-sam')).toBeNull();
    expect(await signedInAs(t.platform.redis, 'client-kim')).toMatchObject({ user: 'kim.other@riverside.example' });
    const [row] = await audit().list(1);
    expect(row).toMatchObject({ action: 'user.scim-disable', target: id, actor: 'scim:entra' });
    const signIn = await provisionExternal({ users: t.platform.users, accounts: deps.externalAccounts, audit: audit() },
      { providerId: 'entra', issuer: ISSUER, subject: 'sub-sam', username: 'sam.jones@riverside.example', role: null, group: null, fallbackGroup: 'staff' });
    expect(signIn).toMatchObject({ ok: false, code: 'disabled' });
    expect(await t.platform.users.authenticate('sam.jones@riverside.example', '')).toBeNull();
    // the same value again changes nothing and writes no row
    const before = await audit().count();
    expect((await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })).status).toBe(200);
    expect(await audit().count()).toBe(before);
    expect((await scim('GET', `/Users/${id}`)).json).toMatchObject({ active: false });
  });

  it('the "value" object form Entra uses (and its "True" string) enables again; DELETE disables and keeps the record', async () => {
    const on = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', value: { active: 'True' } }] });
    expect(on.json).toMatchObject({ active: true });
    const del = await fetch(`${base}/Users/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(del.status).toBe(204);
    const rec = await t.platform.users.getById(id);
    expect(rec).toMatchObject({ disabled: true, username: 'sam.jones@riverside.example' });
    expect((await audit().list(1))[0]).toMatchObject({ action: 'user.scim-disable', target: id });
  });

  it('describes itself at /ServiceProviderConfig (behind the token)', async () => {
    const r = await scim('GET', '/ServiceProviderConfig');
    expect(r.json).toMatchObject({ patch: { supported: true }, bulk: { supported: false }, filter: { supported: true } });
    expect((await fetch(`${base}/ServiceProviderConfig`)).status).toBe(401);
  });

  it('a user created inactive is stored disabled', async () => {
    const c = await scim('POST', '/Users', entraCreate('starter.later@riverside.example', { active: false }));
    expect(c.status).toBe(201);
    expect((await t.platform.users.getById(c.json!.id as string))!.disabled).toBe(true);
  });
});

describe('SCIM and the real OpenID sign-in', () => {
  /** a console sign-in at the test provider as `login`, to the end: the console's final answer */
  async function signIn(login: string) {
    const b = new HttpBrowser(ca.certPem, con.url);
    const start = await b.request(`${con.url}/auth/oidc/entra/start`, { form: {} });
    expect(start.status, start.text.slice(0, 300)).toBe(303);
    const { res } = await b.follow(start, login);
    return res;
  }

  it('a person Entra provisioned signs in to the same record; once a leaver, the sign-in is refused', async () => {
    const c = await scim('POST', '/Users', entraCreate('Lee.Hart@riverside.example'));
    expect(c.status).toBe(201);
    const id = c.json!.id as string;
    const ok = await signIn('lee');
    expect(ok.status, ok.text.slice(0, 300)).toBe(200);
    expect(ok.text).toContain('Signed in as lee.hart@riverside.example');
    // one record: the sign-in's role came from the claims, the record is the SCIM one
    expect(await t.platform.users.get('lee.hart@riverside.example')).toMatchObject({ userId: id, role: 'it', disabled: false });
    expect((await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: false }] })).status).toBe(200);
    const refused = await signIn('lee');
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('disabled');
  });
});

describe('SCIM attacks', () => {
  it('no token, a wrong token, the OIDC client secret, a console session: 401 SCIM errors, nothing changes', async () => {
    const count = await audit().count();
    for (const auth of [undefined, 'Bearer wrong', `Bearer ${token}x`, 'Bearer oidc-client-secret-0123456789', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`, `bearer  ${token}`]) {
      const res = await fetch(`${base}/Users`, { method: 'POST', headers: { 'content-type': SCIM, ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify(entraCreate('eve@riverside.example')) });
      expect(res.status, String(auth)).toBe(401);
      expect(await res.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    }
    const dana = (await t.platform.users.get('dana@riverside.example'))!;
    const { id: sid } = await consoleDeps(t.platform).sessions.create(dana.userId, 'director');
    const withCookie = await fetch(`${base}/Users?filter=${encodeURIComponent('userName eq "dana@riverside.example"')}`, { headers: { cookie: `fw_session=${sid}` } });
    expect(withCookie.status).toBe(401);
    expect(await t.platform.users.get('eve@riverside.example')).toBeNull();
    expect(await audit().count()).toBe(count);
  });

  it('the SCIM token opens nothing else in the console', async () => {
    for (const path of ['/api/users', '/api/audit-log', '/people']) {
      const res = await fetch(`${con.url}${path}`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
      expect(res.status, path).toBe(401);
    }
  });

  it('a userName that is a local account (also written in capitals or full-width forms) is refused with 409; the account is untouched', async () => {
    for (const name of ['dana@riverside.example', 'DANA@Riverside.example', 'ｄａｎａ@riverside.example', ' dana@riverside.example ']) {
      const r = await scim('POST', '/Users', entraCreate(name));
      expect(r.status, name).toBe(409);
      expect(r.json).toMatchObject({ scimType: 'uniqueness' });
      expect(r.json!.detail).toContain('not managed by SCIM');
    }
    // nor does the filter offer it to be managed
    const q = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "ＤＡＮＡ@riverside.example"')}`);
    expect(q.json).toMatchObject({ totalResults: 0 });
    expect(await t.platform.users.get('dana@riverside.example')).toMatchObject({ role: 'director', disabled: false, group: 'managers' });
  });

  it('another record\'s id (a local director) is not found by GET, PATCH, PUT, DELETE or group membership', async () => {
    const dana = (await t.platform.users.get('dana@riverside.example'))!;
    expect((await scim('GET', `/Users/${dana.userId}`)).status).toBe(404);
    expect((await scim('PATCH', `/Users/${dana.userId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: false }] })).status).toBe(404);
    expect((await scim('PUT', `/Users/${dana.userId}`, entraCreate('dana@riverside.example', { active: false }))).status).toBe(404);
    expect((await scim('DELETE', `/Users/${dana.userId}`)).status).toBe(404);
    expect((await scim('GET', '/Users/not-a-user-id')).status).toBe(404);
    const g = await scim('POST', '/Groups', { displayName: 'FW Managers', members: [{ value: dana.userId }] });
    expect(g.status).toBe(201);
    const vol = await scim('POST', '/Groups', { displayName: 'x', externalId: '0b5e-volunteers-object-id', members: [{ value: dana.userId }] });
    expect(vol.status).toBe(201);
    expect(await t.platform.users.get('dana@riverside.example')).toMatchObject({ role: 'director', disabled: false, group: 'managers' });
  });

  it('markup and unrepresentable names are refused naming userName; confusables are normalised as everywhere else', async () => {
    for (const name of ['<script>alert(1)</script>@riverside.example', 'a"onmouseover="x', 'rlo\u202Eelpmaxe.org', '']) {
      const r = await scim('POST', '/Users', entraCreate(name));
      expect(r.status, name).toBe(400);
      expect(r.json!.detail).toMatch(/^userName: /);
    }
    const r = await scim('POST', '/Users', entraCreate('ｋｉｍ@riverside.example'));
    expect(r.status).toBe(201);
    expect(r.json!.userName).toBe('kim@riverside.example');
  });

  it('roles cannot be given through SCIM, in create or PATCH (path or value form); the role stays staff', async () => {
    const c = await scim('POST', '/Users', entraCreate('mallory@riverside.example', { roles: [{ primary: true, type: 'WindowsAzureActiveDirectoryRole', value: 'director' }] }));
    expect(c.status).toBe(400);
    expect(c.json).toMatchObject({ scimType: 'mutability' });
    expect(c.json!.detail).toMatch(/^roles/);
    expect(await t.platform.users.get('mallory@riverside.example')).toBeNull();
    const m = await scim('POST', '/Users', entraCreate('mallory@riverside.example'));
    const id = m.json!.id as string;
    for (const op of [
      { op: 'Add', path: 'roles', value: [{ value: 'director' }] },
      { op: 'Replace', path: 'roles[primary eq "True"].value', value: 'director' },
      { op: 'Replace', value: { roles: [{ value: 'director' }] } },
      { op: 'Replace', value: { role: 'director' } },
    ]) {
      const r = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [op] });
      expect(r.status, JSON.stringify(op)).toBe(400);
      expect(r.json).toMatchObject({ scimType: 'mutability' });
    }
    expect((await t.platform.users.getById(id))!.role).toBe('staff');
    // a rename is refused too (the name is the record's key)
    const rn = await scim('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'userName', value: 'dana@riverside.example' }] });
    expect(rn.status).toBe(400);
  });

  it('bad bodies are SCIM errors naming the field: oversized (with and without a length), wrong type, bad JSON, missing PatchOp schema, bad filter', async () => {
    const big = JSON.stringify(entraCreate('big@riverside.example', { pad: 'x'.repeat(70 * 1024) }));
    expect((await scim('POST', '/Users', big)).status).toBe(413);
    const chunks = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (let i = 0; i < 80; i++) ctl.enqueue(new TextEncoder().encode('x'.repeat(1024)));
        ctl.close();
      },
    });
    const chunked = await fetch(`${base}/Users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': SCIM }, body: chunks, duplex: 'half' });
    expect(chunked.status).toBe(413);
    expect((await scim('POST', '/Users', '{"userName": ')).json).toMatchObject({ status: '400', scimType: 'invalidSyntax' });
    expect((await scim('POST', '/Users', entraCreate('x@riverside.example'), { 'content-type': 'text/plain' })).status).toBe(415);
    const noName = await scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], active: true });
    expect(noName.status).toBe(400);
    expect(noName.json!.detail).toMatch(/^userName: /);
    const active = await scim('POST', '/Users', entraCreate('y@riverside.example', { active: 'maybe' }));
    expect(active.json!.detail).toMatch(/^active: /);
    const users = await t.platform.users.list();
    const kim = users.find((u) => u.username === 'kim@riverside.example')!;
    const noSchema = await scim('PATCH', `/Users/${kim.userId}`, { Operations: [{ op: 'Replace', path: 'active', value: false }] });
    expect(noSchema.json!.detail).toMatch(/^schemas: /);
    const badOp = await scim('PATCH', `/Users/${kim.userId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Delete', path: 'active' }] });
    expect(badOp.json!.detail).toMatch(/^Operations\.0\.op: /);
    const filter = await scim('GET', `/Users?filter=${encodeURIComponent('userName sw "a" or 1 eq 1')}`);
    expect(filter.json).toMatchObject({ status: '400', scimType: 'invalidFilter' });
    expect((await t.platform.users.getById(kim.userId))!.disabled).toBe(false);
  });

  it('the rate of changes is bounded: over identity.scim.maxChangesPerMinute the answer is 429', async () => {
    const cfg = { ...t.platform.config.identity.scim!, maxChangesPerMinute: 2 };
    const deps = consoleDeps(t.platform);
    // a minute of its own, so the requests above do not count
    const u = new ScimUsers({ users: t.platform.users, accounts: deps.externalAccounts, audit: audit(), redis: t.platform.redis, config: cfg, defaultGroup: 'staff', onDisabled: async () => undefined, now: () => 0 });
    await u.create({ userName: 'rate1@riverside.example', active: true });
    await u.create({ userName: 'rate2@riverside.example', active: true });
    const third = await u.create({ userName: 'rate3@riverside.example', active: true }).then(() => null, (e: unknown) => e);
    expect(third).toBeInstanceOf(ScimError);
    expect((third as ScimError).status).toBe(429);
    expect(await t.platform.users.get('rate3@riverside.example')).toBeNull();
  });

  it('the audit chain is intact after all of it', async () => {
    expect((await audit().verify()).ok).toBe(true);
  });
});
