import { html, raw } from 'hono/html';
import { deleteCookie, setCookie } from 'hono/cookie';
import { generateURI } from 'otplib';
import QRCode from 'qrcode';
import { TOTP_ROLES, UserError, validatePassword, validateUsername, verifyNobody, verifyPassword, type UserRecord } from '../../core/identity/users.ts';
import { publishSiem } from '../../core/siem/events.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, HttpError, isApi, SECURE_SESSION_COOKIE, SESSION_COOKIE, str, type Ctx, type RouteTable } from '../access.ts';
import { clientIp } from '../security/client-ip.ts';
import { setupTokenValid, takeSetupToken } from '../security/setup-token.ts';
import { checkTotp } from '../security/totp.ts';
import { CSS, message } from '../views/layout.ts';
import { safeReturnPath } from '../security/return-path.ts';
import { FORM_ACTION_HEADER, providerButtons } from './oidc.ts';
import { PAC_CONTENT_TYPE, pacOptionsFromConfig, renderPac } from '../pac.ts';

// Routes anyone may reach: the style sheet, sign-in and sign-out, and the first-run setup page.

export const HOME: Record<string, string> = { staff: '/my', it: '/home', director: '/home', dpo: '/home' };

/** The one sign-in check for the form and the API. Every outcome goes into the audit chain. */
async function signIn(deps: ConsoleDeps, c: Ctx, username: string, password: string, totp: string): Promise<UserRecord> {
  const ip = clientIp(c);
  const audit = (actor: string, outcome: string, reason: string) =>
    deps.audit.append({ actor, actorRole: '', action: 'sign-in', target: '', reason, outcome });
  const wait = await deps.limiter.lockedFor(username, ip);
  if (wait > 0) {
    await audit('anonymous', 'refused-429', 'locked after repeated failures');
    throw new HttpError(429, `too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minutes`);
  }
  const user = await deps.users.get(username).catch(() => null);
  // an unknown name costs the same argon2 work as a known one, so timing does not reveal accounts
  const passwordOk = user && !user.disabled ? await verifyPassword(user.passwordHash, password) : await verifyNobody(password);
  const needsTotp = user ? TOTP_ROLES.includes(user.role) : false;
  const totpOk = passwordOk && user && (!needsTotp || await checkTotp(deps.redis, user.userId, user.totpSecret, totp.trim()));
  if (!user || !passwordOk || !totpOk) {
    await deps.limiter.failed(username, ip);
    // the failure that locks the account or the address is a security event of its own (no name in it)
    if (await deps.limiter.lockedFor(username, ip) > 0) publishSiem({ kind: 'security', event: 'console-lockout', tsMs: Date.now(), src: ip, detail: `console sign-in locked after repeated failures${user ? ` (account ${user.userId})` : ''}` });
    // the audit row names the account by user_id only; an unknown name is not recorded at all
    await audit(user?.userId ?? 'anonymous', 'refused-401', passwordOk ? 'wrong or reused authenticator code' : 'wrong user name or password');
    throw new HttpError(401, needsTotp && passwordOk ? 'the authenticator code was wrong or already used' : 'user name, password or code not recognised');
  }
  await deps.limiter.succeeded(username);
  await audit(user.userId, 'allowed', '');
  return user;
}

export async function startSession(deps: ConsoleDeps, c: Ctx, user: UserRecord) {
  const old = c.get('sessionId');
  if (old) await deps.sessions.destroy(old); // a fresh id at every sign-in: no session fixation
  const { id, session } = await deps.sessions.create(user.userId, user.role);
  setCookie(c, deps.tls ? SECURE_SESSION_COOKIE : SESSION_COOKIE, id, {
    httpOnly: true, sameSite: 'Strict', secure: deps.tls, path: '/', maxAge: deps.config.console.sessionMaxHours * 3600,
  });
  return session;
}

function loginForm(deps: ConsoleDeps, error?: string, returnTo?: string) {
  const providers = deps.oidc.list();
  return html`${error ? message('error', error) : ''}
${providers.length ? html`${providerButtons(deps.oidc, (id) => `/auth/oidc/${id}/start`, returnTo ? { return: returnTo } : {})}
<p class="hint">Or with a fairwatch account:</p>` : ''}
<form method="post" action="/login">
<label>User name <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>Authenticator code (IT, directors, DPO) <input name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}"></label>
<button type="submit">Sign in</button></form>`;
}

/** The sign-in page; its forms may lead to the configured providers (CSP form-action). */
async function signInPage(deps: ConsoleDeps, c: Ctx, returnTo?: string, error?: string, status = 200) {
  if (deps.oidc.list().length) c.header(FORM_ACTION_HEADER, (await deps.oidc.formOrigins()).join(' '));
  return frame(deps, c, 'Sign in', loginForm(deps, error, returnTo), status);
}

export function publicRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'GET', path: '/static/console.css', who: 'anyone' }, (c) => c.body(String(CSS), 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }));

  // Proxy auto-configuration for browsers (WPAD asks for /wpad.dat): rendered once, so a bad pac.*
  // setting stops the console at start naming the key rather than serving a broken file.
  // A proxy on an ephemeral port (proxy.port 0, tests) has no address to publish: answer 503 then.
  const ephemeral = deps.config.pac.proxies.length === 0 && deps.config.proxy.port === 0;
  const pac = ephemeral ? null : renderPac(pacOptionsFromConfig(deps.config));
  for (const path of ['/proxy.pac', '/wpad.dat']) {
    t.add({ method: 'GET', path, who: 'anyone' }, (c) => pac === null
      ? c.text('proxy auto-configuration needs pac.proxies or a fixed proxy.port', 503)
      : c.body(pac, 200, { 'content-type': PAC_CONTENT_TYPE, 'cache-control': 'max-age=300' }));
  }
  t.add({ method: 'GET', path: '/', who: 'anyone' }, (c) => {
    const s = c.get('session');
    return c.redirect(s ? HOME[s.role] ?? '/my' : '/login', 303);
  });

  t.add({ method: 'GET', path: '/login', who: 'anyone' }, (c) => signInPage(deps, c, safeReturnPath(c.req.query('return'))));

  t.add({ method: 'POST', path: '/login', who: 'anyone', noSessionToken: true }, async (c) => {
    const b = c.get('body');
    try {
      const user = await signIn(deps, c, str(b, 'username', { required: true, max: 200 }), str(b, 'password', { required: true, max: 1000 }), str(b, 'totp', { max: 20 }));
      await startSession(deps, c, user);
      return c.redirect(HOME[user.role] ?? '/my', 303);
    } catch (e) {
      if (e instanceof HttpError && (e.status === 401 || e.status === 429 || e.status === 400)) return signInPage(deps, c, undefined, e.message, e.status);
      throw e;
    }
  });

  t.add({ method: 'POST', path: '/api/session', who: 'anyone' }, async (c) => {
    const b = c.get('body');
    const user = await signIn(deps, c, str(b, 'username', { required: true, max: 200 }), str(b, 'password', { required: true, max: 1000 }), str(b, 'totp', { max: 20 }));
    const s = await startSession(deps, c, user);
    return c.json({ user_id: user.userId, role: user.role, csrf: s.csrf, expires_idle_minutes: deps.config.console.sessionIdleMinutes });
  });

  const signOut = async (c: Ctx) => {
    await deps.sessions.destroy(c.get('sessionId') ?? undefined);
    deleteCookie(c, deps.tls ? SECURE_SESSION_COOKIE : SESSION_COOKIE, { path: '/', secure: deps.tls });
    return isApi(c) ? c.json({ ok: true }) : c.redirect('/login', 303);
  };
  t.add({ method: 'POST', path: '/logout', who: 'signed-in' }, signOut);
  t.add({ method: 'DELETE', path: '/api/session', who: 'signed-in' }, signOut);

  t.add({ method: 'GET', path: '/setup/:token', who: 'anyone' }, async (c) => {
    if (!(await setupTokenValid(deps.redis, c.req.param('token')!))) throw new HttpError(404, 'this setup link is unknown, used or expired');
    return frame(deps, c, 'Create the first director', html`<p>This link works once. Choose the first director's user name and password;
the next page shows the authenticator secret once.</p>
<form method="post" action="/setup/${c.req.param('token')!}">
<label>User name <input name="username" required></label>
<label>Password (at least 10 characters) <input name="password" type="password" minlength="10" required></label>
<button type="submit">Create director</button></form>`);
  });

  t.add({ method: 'POST', path: '/setup/:token', who: 'anyone', noSessionToken: true, audit: 'setup.first-director' }, async (c) => {
    const b = c.get('body');
    const username = str(b, 'username', { required: true, max: 64 });
    const password = str(b, 'password', { required: true, max: 1000 });
    if ((await deps.users.list()).some((u) => u.role === 'director')) throw new HttpError(403, 'a director already exists: sign in instead');
    if (!(await setupTokenValid(deps.redis, c.req.param('token')!))) throw new HttpError(404, 'this setup link is unknown, used or expired');
    try {
      // checked before the link is used up, so a typo in the form does not burn it
      validateUsername(username);
      validatePassword(password);
    } catch (e) {
      if (e instanceof UserError) throw new HttpError(400, e.message.replace(/^--/, ''));
      throw e;
    }
    // taken atomically: two forms posted at once create one director, not two
    if (!(await takeSetupToken(deps.redis, c.req.param('token')!))) throw new HttpError(404, 'this setup link is unknown, used or expired');
    let created;
    try {
      created = await deps.users.add({ username, password, role: 'director', group: deps.config.policy.groups.managers ? 'managers' : deps.config.policy.defaultGroup });
    } catch (e) {
      if (e instanceof UserError) throw new HttpError(400, e.message.replace(/^--/, ''));
      throw e;
    }
    const uri = generateURI({ issuer: `fairwatch ${deps.config.organisation.name}`, label: created.user.username, secret: created.totpSecret! });
    const qr = await QRCode.toDataURL(uri, { margin: 1, width: 240 });
    c.header('cache-control', 'no-store');
    c.header('x-fairwatch-target', created.user.userId);
    return frame(deps, c, 'Director created', html`${message('ok', `Director ${created.user.username} created.`)}
<p>Add this account to an authenticator app now: scan the code or type the secret. It is shown only this once.</p>
<p><img src="${qr}" alt="TOTP QR code" width="240" height="240"></p>
<p>Secret: <code id="totp-secret">${created.totpSecret!}</code></p>
<p><a href="/login">Sign in</a></p>${raw('')}`);
  });
}
