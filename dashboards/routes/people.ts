import { randomBytes } from 'node:crypto';
import { html } from 'hono/html';
import { generateSecret, generateURI } from 'otplib';
import QRCode from 'qrcode';
import { parseStarters, type StarterProblem } from '../../core/identity/starters.ts';
import { ROLES, TOTP_ROLES, UserError, verifyPassword, type Role, type User, type UserRecord } from '../../core/identity/users.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, HttpError, isApi, str, type Ctx, type RouteTable } from '../access.ts';
import { issueAccountLink, peekAccountLink, takeAccountLink, ACCOUNT_LINK_SECONDS, type LinkPurpose } from '../security/account-link.ts';
import { csrfField, message } from '../views/layout.ts';

// People: IT and directors list accounts, add one (the person chooses their password through a
// one-time link; nobody types it for them), disable and re-enable, reset a password or an
// authenticator (again by one-time link), and see who has not accepted the current acceptable-use
// statement. IT manages staff and IT accounts; only directors touch director and DPO accounts, so
// IT cannot take over an account that decides on access. Every action is in the audit chain.

const unusablePassword = () => randomBytes(32).toString('base64url');

function mayManage(actor: Role, target: Role): boolean {
  return actor === 'director' || (actor === 'it' && (target === 'staff' || target === 'it'));
}

async function accepted(deps: ConsoleDeps): Promise<Set<string>> {
  const rows = await deps.store.rows<{ p: string }>(
    `SELECT DISTINCT user_pseudonym AS p FROM ${deps.store.database}.aup_acceptances WHERE version = {v:String}`, { v: deps.config.aup.version });
  return new Set(rows.map((r) => r.p));
}

function linkUrl(deps: ConsoleDeps, c: Ctx, token: string): string {
  const base = deps.config.console.publicUrl?.replace(/\/$/, '') ?? new URL(c.req.url).origin;
  return `${base}/account/${token}`;
}

function userError(e: unknown): never {
  if (e instanceof UserError) throw new HttpError(e.code === 'FW_USER_EXISTS' ? 409 : 400, e.message.replace(/^--/, ''));
  throw e;
}

async function target(deps: ConsoleDeps, c: Ctx): Promise<UserRecord> {
  const u = await deps.users.getById(c.req.param('id')!);
  if (!u) throw new HttpError(404, `no account ${c.req.param('id')}`);
  const s = c.get('session')!;
  if (!mayManage(s.role, u.role)) throw new HttpError(403, `only a director manages ${u.role} accounts`);
  c.header('x-fairwatch-target', u.userId);
  return u;
}

async function addPerson(deps: ConsoleDeps, c: Ctx): Promise<{ user: User; link: string }> {
  const b = c.get('body');
  const role = str(b, 'role', { required: true, max: 20 }) as Role;
  if (!ROLES.includes(role)) throw new HttpError(400, `role: expected one of ${ROLES.join(', ')}`);
  if (!mayManage(c.get('session')!.role, role)) throw new HttpError(403, `role: only a director adds ${role} accounts`);
  const group = str(b, 'group', { max: 64 }) || deps.config.policy.defaultGroup;
  if (!(group in deps.config.policy.groups) && group !== deps.config.policy.defaultGroup) {
    throw new HttpError(400, `group: "${group}" is not in policy.groups (${Object.keys(deps.config.policy.groups).join(', ') || 'none'})`);
  }
  const created = await deps.users.add({ username: str(b, 'username', { required: true, max: 64 }), role, group, password: unusablePassword() }).catch(userError);
  c.header('x-fairwatch-target', created.user.userId);
  return { user: created.user, link: linkUrl(deps, c, await issueAccountLink(deps.redis, created.user.userId, 'new')) };
}

/** Thrown with every bad line of a starters file; nothing has been created. */
class StartersRefused extends HttpError {
  constructor(readonly problems: StarterProblem[]) {
    super(400, `csv: ${problems.map((p) => `line ${p.line}: ${p.message}`).join('; ')}`);
  }
}

async function importStarters(deps: ConsoleDeps, c: Ctx): Promise<Array<{ user: User; link: string }>> {
  const b = c.get('body');
  const text = str(b, 'csv', { max: 64 * 1024 }) || str(b, 'file', { max: 64 * 1024 });
  if (!text.trim()) throw new HttpError(400, 'csv: paste the file or choose it (header row username,role,group, then one person a line)');
  const actor = c.get('session')!.role;
  const existing = new Set((await deps.users.list()).map((u) => u.username));
  const { starters, problems } = parseStarters(text, {
    mayAdd: (r) => mayManage(actor, r), existing, defaultGroup: deps.config.policy.defaultGroup,
    groups: [...new Set([deps.config.policy.defaultGroup, ...Object.keys(deps.config.policy.groups)])],
  });
  if (problems.length) throw new StartersRefused(problems);
  // one insert: all of them or none
  const users = await deps.users.addMany(starters.map((s) => ({ username: s.username, role: s.role, group: s.group, password: unusablePassword() }))).catch(userError);
  c.header('x-fairwatch-target', `${users.length} starters: ${users.map((u) => u.username).join(',')}`);
  const out: Array<{ user: User; link: string }> = [];
  for (const user of users) out.push({ user, link: linkUrl(deps, c, await issueAccountLink(deps.redis, user.userId, 'new')) });
  return out;
}

type Action = 'disable' | 'enable' | 'reset-password' | 'reset-authenticator';

async function act(deps: ConsoleDeps, c: Ctx, action: Action): Promise<{ user: UserRecord; link: string | null }> {
  const u = await target(deps, c);
  const s = c.get('session')!;
  if (action === 'disable') {
    if (u.userId === s.userId) throw new HttpError(400, 'you cannot disable your own account');
    return { user: await deps.users.disable(u.username), link: null };
  }
  if (action === 'enable') return { user: await deps.users.enable(u.username), link: null };
  if (action === 'reset-password') {
    // the old password stops working now: a reset is usually asked for when it may be known to others
    const user = await deps.users.setPassword(u.username, unusablePassword());
    return { user, link: linkUrl(deps, c, await issueAccountLink(deps.redis, u.userId, 'password')) };
  }
  if (!TOTP_ROLES.includes(u.role)) throw new HttpError(400, `${u.role} accounts have no authenticator`);
  const user = await deps.users.setTotpSecret(u.username, generateSecret());
  return { user, link: linkUrl(deps, c, await issueAccountLink(deps.redis, u.userId, 'authenticator')) };
}

const json = (u: User, acceptedSet: Set<string> | null, deps: ConsoleDeps) => ({
  user_id: u.userId, username: u.username, role: u.role, group: u.group, disabled: u.disabled, created_at: u.createdAt, updated_at: u.updatedAt,
  ...(acceptedSet ? { accepted_current_aup: acceptedSet.has(deps.pseudonyms.user(u.username)) } : {}),
});

const DONE: Record<string, string> = {
  disable: 'Account disabled: its sessions end at their next request.', enable: 'Account enabled again.',
  'reset-password': 'Password reset: the old one no longer works.', 'reset-authenticator': 'Authenticator reset: the old codes no longer work.',
};

function linkNotice(link: string, who: string) {
  return html`<div class="card"><p class="ok" role="status">Give ${who} this one-time link (valid for ${ACCOUNT_LINK_SECONDS / 86_400} days; it works once). It is not shown again.</p>
<p class="link" id="account-link">${link}</p></div>`;
}

export function peopleRoutes(deps: ConsoleDeps, t: RouteTable): void {
  const listPage = async (c: Ctx, notice: ReturnType<typeof html> | string = '', status = 200, csv = '') => {
    const s = c.get('session')!;
    const [users, acc] = await Promise.all([deps.users.list(), accepted(deps)]);
    const roles = ROLES.filter((r) => mayManage(s.role, r));
    const groups = [...new Set([deps.config.policy.defaultGroup, ...Object.keys(deps.config.policy.groups)])];
    const notAccepted = users.filter((u) => !u.disabled && !acc.has(deps.pseudonyms.user(u.username)));
    const actions = (u: User) => {
      if (!mayManage(s.role, u.role)) return html`<span class="hint">a director manages this account</span>`;
      const form = (action: Action, label: string, cls = '') => html`<form method="post" action="/people/${u.userId}/${action}" class="inline">${csrfField(s.csrf)}<button type="submit"${cls ? html` class="${cls}"` : ''}>${label}</button></form> `;
      return html`${u.disabled ? form('enable', 'Re-enable', 'secondary') : u.userId === s.userId ? '' : form('disable', 'Disable', 'danger')}
${form('reset-password', 'Reset password', 'secondary')}${TOTP_ROLES.includes(u.role) ? form('reset-authenticator', 'Reset authenticator', 'secondary') : ''}`;
    };
    return frame(deps, c, 'People', html`${notice}
<h2>Add a person</h2>
<form method="post" action="/people">${csrfField(s.csrf)}
<label for="p-username">User name</label><input id="p-username" name="username" required maxlength="64" autocomplete="off">
<label for="p-role">Role</label><select id="p-role" name="role">${roles.map((r) => html`<option value="${r}">${r}</option>`)}</select>
<label for="p-group">Group (for the web policy)</label><select id="p-group" name="group">${groups.map((g) => html`<option value="${g}">${g}</option>`)}</select>
<p class="hint">The person gets a one-time link to choose their own password${s.role === 'director' ? ' (IT, directors and the DPO also set up an authenticator there)' : ''}.</p>
<button type="submit">Add</button></form>
<h2>Import starters</h2>
<form method="post" action="/people/import" enctype="multipart/form-data">${csrfField(s.csrf)}
<p class="hint">A CSV file with a header row <code>username,role,group</code> and one person a line (group may be empty: ${deps.config.policy.defaultGroup}). Roles you may add: ${roles.join(', ')}. Every line is checked first: if one is wrong, nobody is added and each problem is listed with its line number.</p>
<label for="p-file">CSV file</label><input id="p-file" name="file" type="file" accept=".csv,text/csv">
<label for="p-csv">or paste it here</label><textarea id="p-csv" name="csv" rows="5" spellcheck="false" placeholder="username,role,group&#10;jo.bloggs,staff,${deps.config.policy.defaultGroup}">${csv}</textarea>
<button type="submit">Import</button></form>
<h2>Accounts</h2>
<div class="scroll"><table id="people"><thead><tr><th scope="col">User name</th><th scope="col">Role</th><th scope="col">Group</th><th scope="col">Status</th><th scope="col">Acceptable use (v${deps.config.aup.version})</th><th scope="col">Actions</th></tr></thead><tbody>
${users.map((u) => html`<tr id="user-${u.username}"><td>${u.username}</td><td>${u.role}</td><td>${u.group}</td><td>${u.disabled ? 'disabled' : 'active'}</td>
<td>${acc.has(deps.pseudonyms.user(u.username)) ? 'accepted' : html`<strong>not yet</strong>`}</td><td>${actions(u)}</td></tr>`)}
</tbody></table></div>
<h2>Not yet accepted the current statement</h2>
${notAccepted.length ? html`<p>${notAccepted.length} active account(s): ${notAccepted.map((u, i) => html`${i ? ', ' : ''}${u.username}`)}. They are asked at their next visit through the proxy.</p>` : html`<p>Everyone active has accepted version ${deps.config.aup.version}.</p>`}`, status);
  };

  t.add({ method: 'GET', path: '/people', who: ['it', 'director'] }, (c) => listPage(c));
  t.add({ method: 'GET', path: '/api/users', who: ['it', 'director'] }, async (c) => {
    const [users, acc] = await Promise.all([deps.users.list(), accepted(deps)]);
    return c.json(users.map((u) => json(u, acc, deps)));
  });

  t.add({ method: 'POST', path: '/people', who: ['it', 'director'], audit: 'user.add' }, async (c) => {
    const { user, link } = await addPerson(deps, c);
    return listPage(c, html`${message('ok', `Account ${user.username} (${user.role}) added.`)}${linkNotice(link, user.username)}`);
  });
  t.add({ method: 'POST', path: '/api/users', who: ['it', 'director'], audit: 'user.add' }, async (c) => {
    const { user, link } = await addPerson(deps, c);
    return c.json({ ...json(user, null, deps), link }, 201);
  });

  t.add({ method: 'POST', path: '/people/import', who: ['it', 'director'], audit: 'user.import' }, async (c) => {
    let added: Array<{ user: User; link: string }>;
    try {
      added = await importStarters(deps, c);
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 400) throw e;
      const problems = e instanceof StartersRefused ? e.problems : null;
      return listPage(c, html`${message('error', problems ? `Nobody was added: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the file.` : e.message)}
${problems ? html`<ul class="problems" id="import-problems">${problems.map((p) => html`<li>line ${p.line}: ${p.message}</li>`)}</ul>` : ''}`, 400,
        // the pasted text comes back to be corrected (a chosen file is chosen again)
        str(c.get('body'), 'csv', { max: 64 * 1024 }));
    }
    return listPage(c, html`${message('ok', `${added.length} account${added.length === 1 ? '' : 's'} added.`)}
<div class="card"><p class="ok" role="status">Give each person their one-time link (valid for ${ACCOUNT_LINK_SECONDS / 86_400} days; each works once). They are not shown again.</p>
<div class="scroll"><table id="import-links"><thead><tr><th scope="col">User name</th><th scope="col">Role</th><th scope="col">Group</th><th scope="col">One-time link</th></tr></thead><tbody>
${added.map(({ user, link }) => html`<tr><td>${user.username}</td><td>${user.role}</td><td>${user.group}</td><td class="link">${link}</td></tr>`)}
</tbody></table></div></div>`);
  });
  t.add({ method: 'POST', path: '/api/users/import', who: ['it', 'director'], audit: 'user.import' }, async (c) => {
    try {
      const added = await importStarters(deps, c);
      return c.json({ created: added.map(({ user, link }) => ({ ...json(user, null, deps), link })) }, 201);
    } catch (e) {
      if (e instanceof StartersRefused) return c.json({ error: e.message, problems: e.problems }, 400);
      throw e;
    }
  });

  for (const action of ['disable', 'enable', 'reset-password', 'reset-authenticator'] as const) {
    t.add({ method: 'POST', path: `/people/:id/${action}`, who: ['it', 'director'], audit: `user.${action}` }, async (c) => {
      const { user, link } = await act(deps, c, action);
      return listPage(c, html`${message('ok', `${user.username}: ${DONE[action]}`)}${link ? linkNotice(link, user.username) : ''}`);
    });
    t.add({ method: 'POST', path: `/api/users/:id/${action}`, who: ['it', 'director'], audit: `user.${action}` }, async (c) => {
      const { user, link } = await act(deps, c, action);
      return c.json({ ...json(user, null, deps), ...(link ? { link } : {}) });
    });
  }

  // The one-time link: choose a password (new account, reset) and, for roles with a second factor,
  // see the authenticator secret once; an authenticator reset asks for the password instead.
  const linkForm = (token: string, purpose: LinkPurpose, username: string, error = '') => html`${error ? message('error', error) : ''}
<p>Account <strong>${username}</strong>. This link works once.</p>
<form method="post" action="/account/${token}">
${purpose === 'authenticator'
    ? html`<label for="a-pw">Your password</label><input id="a-pw" name="password" type="password" autocomplete="current-password" required>`
    : html`<label for="a-new">New password (at least 10 characters)</label><input id="a-new" name="password" type="password" autocomplete="new-password" minlength="10" required>
<label for="a-again">The same again</label><input id="a-again" name="again" type="password" autocomplete="new-password" minlength="10" required>`}
<button type="submit">${purpose === 'authenticator' ? 'Show my new authenticator' : 'Set my password'}</button></form>`;

  t.add({ method: 'GET', path: '/account/:token', who: 'anyone' }, async (c) => {
    const l = await peekAccountLink(deps.redis, c.req.param('token')!);
    const u = l ? await deps.users.getById(l.userId) : null;
    if (!l || !u || u.disabled) throw new HttpError(404, 'this link is unknown, used or expired: ask IT for a new one');
    return frame(deps, c, l.purpose === 'authenticator' ? 'Set up your authenticator' : 'Choose your password', linkForm(c.req.param('token')!, l.purpose, u.username));
  });

  t.add({ method: 'POST', path: '/account/:token', who: 'anyone', noSessionToken: true, audit: 'user.account-link' }, async (c) => {
    const token = c.req.param('token')!;
    const l = await peekAccountLink(deps.redis, token);
    const u = l ? await deps.users.getById(l.userId) : null;
    if (!l || !u || u.disabled) throw new HttpError(404, 'this link is unknown, used or expired: ask IT for a new one');
    c.header('x-fairwatch-target', u.userId);
    const b = c.get('body');
    const password = str(b, 'password', { required: true, max: 1000 });
    const title = l.purpose === 'authenticator' ? 'Set up your authenticator' : 'Choose your password';
    // checked before the link is used up, so a typo does not burn it
    if (l.purpose === 'authenticator') {
      if (!(await verifyPassword(u.passwordHash, password))) return frame(deps, c, title, linkForm(token, l.purpose, u.username, 'That password is not right.'), 400);
    } else {
      if (password !== str(b, 'again', { max: 1000 })) return frame(deps, c, title, linkForm(token, l.purpose, u.username, 'The two passwords differ.'), 400);
      if (password.length < 10) return frame(deps, c, title, linkForm(token, l.purpose, u.username, 'At least 10 characters, please.'), 400);
    }
    if (!(await takeAccountLink(deps.redis, token))) throw new HttpError(404, 'this link is unknown, used or expired: ask IT for a new one');
    if (l.purpose !== 'authenticator') await deps.users.setPassword(u.username, password).catch(userError);
    const showTotp = TOTP_ROLES.includes(u.role) && l.purpose !== 'password';
    if (isApi(c) || !showTotp) return frame(deps, c, 'Password set', html`${message('ok', 'Your password is set.')}<p><a href="/login">Sign in</a></p>`);
    const uri = generateURI({ issuer: `fairwatch ${deps.config.organisation.name}`, label: u.username, secret: u.totpSecret });
    const qr = await QRCode.toDataURL(uri, { margin: 1, width: 240 });
    return frame(deps, c, 'Your authenticator', html`${l.purpose === 'new' ? message('ok', 'Your password is set.') : ''}
<p>Add this account to an authenticator app now: scan the code or type the secret. It is shown only this once.</p>
<p><img src="${qr}" alt="QR code for your authenticator app" width="240" height="240"></p>
<p>Secret: <code id="totp-secret">${u.totpSecret}</code></p><p><a href="/login">Sign in</a></p>`);
  });

}
