import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { mapClaims } from '../../core/identity/oidc-claims.ts';
import { provisionExternal } from '../../core/identity/just-in-time.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, HttpError, REAUTH_MS, str, type Ctx, type RouteTable } from '../access.ts';
import { FLOW_COOKIE, FLOW_SECONDS, OidcError, SECURE_FLOW_COOKIE, type OidcProviders } from '../security/oidc.ts';
import { safeReturnPath } from '../security/return-path.ts';
import { CSS_PATH, message } from '../views/layout.ts';
import { HOME, startSession } from './public.ts';

// Console sign-in with the organisation's OpenID provider (identity.oidc): a form post starts it
// (the global Origin check applies, so another site cannot start one in someone's browser), the
// provider answers at /auth/oidc/<id>/callback. The console role comes from the claims; nobody
// without a mapped role gets a session. Every outcome goes into the audit chain with the provider
// and the reason, never a token.

/** The console's address as the provider must send people back to it. */
export function consoleBase(deps: ConsoleDeps, c: Ctx): string {
  return (deps.config.console.publicUrl ?? deps.consoleUrl?.() ?? new URL(c.req.url).origin).replace(/\/$/, '');
}

export const flowCookieName = (tls: boolean) => (tls ? SECURE_FLOW_COOKIE : FLOW_COOKIE);

/** Sets the cookie that binds a sign-in to this browser: Lax, because the provider's redirect back is a cross-site navigation. */
export function setFlowCookie(c: Ctx, tls: boolean, value: string): void {
  setCookie(c, flowCookieName(tls), value, { httpOnly: true, sameSite: 'Lax', secure: tls, path: '/', maxAge: FLOW_SECONDS });
}

/** Provider buttons for a sign-in page: one small form each, posting `fields` to `action(id)`. */
export function providerButtons(providers: OidcProviders, action: (id: string) => string, fields: Record<string, string>) {
  const list = providers.list();
  if (!list.length) return html``;
  return html`<div class="providers">${list.map((p) => html`<form method="post" action="${action(p.id)}">${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button type="submit" class="provider">Sign in with ${p.displayName}</button></form>`)}</div>`;
}

/** Header the console's CSP middleware reads to let this page's forms lead to the providers. */
export const FORM_ACTION_HEADER = 'x-fairwatch-form-action';

/**
 * A page that moves on by itself: after the provider's cross-site redirect the browser withholds
 * SameSite=Strict cookies for the rest of that redirect chain, so the new session cookie would not
 * be sent with a 303 to the next page. A refresh from our own page is a same-site navigation.
 */
export function continuePage(title: string, to: string, text: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="0;url=${esc(to)}"><title>${esc(title)}</title><link rel="stylesheet" href="${CSS_PATH}"></head>
<body><main id="main"><p class="ok" role="status">${esc(text)}</p><p><a href="${esc(to)}">Continue</a></p></main></body></html>`;
}

export function oidcRoutes(deps: ConsoleDeps, t: RouteTable): void {
  const providers = deps.oidc;
  const audit = (actor: string, actorRole: string, outcome: string, reason: string) =>
    deps.audit.append({ actor, actorRole, action: 'sign-in', target: '', reason: reason.slice(0, 500), outcome });

  t.add({ method: 'POST', path: '/auth/oidc/:id/start', who: 'anyone', noSessionToken: true }, async (c) => {
    const id = c.req.param('id')!;
    const b = c.get('body');
    const s = c.get('session');
    try {
      const { url, browserValue } = await providers.begin(id, {
        purpose: 'console',
        redirectUri: `${consoleBase(deps, c)}/auth/oidc/${id}/callback`,
        returnTo: safeReturnPath(str(b, 'return', { max: 500 })),
        // someone already signed in is re-authenticating (approve, export): the provider must ask again
        maxAge: s ? Math.floor(REAUTH_MS / 1000) : undefined,
      });
      setFlowCookie(c, deps.tls, browserValue);
      return c.redirect(url.href, 303);
    } catch (e) {
      if (e instanceof OidcError) {
        await audit(s?.userId ?? 'anonymous', s?.role ?? '', e.code === 'unknown-provider' ? 'refused-404' : 'refused-503', `oidc:${id.slice(0, 40)}: ${e.code}: ${e.message}`);
        throw new HttpError(e.code === 'unknown-provider' ? 404 : 503, e.message);
      }
      throw e;
    }
  });

  t.add({ method: 'GET', path: '/auth/oidc/:id/callback', who: 'anyone' }, async (c) => {
    const id = c.req.param('id')!;
    const cookie = flowCookieName(deps.tls);
    const browserValue = getCookie(c, cookie);
    deleteCookie(c, cookie, { path: '/', secure: deps.tls });
    const refuse = async (status: 400 | 403, actor: string, code: string, text: string) => {
      await audit(actor, '', `refused-${status}`, `oidc:${id.slice(0, 40)}: ${code}: ${text}`);
      return frame(deps, c, 'Sign-in refused', html`${message('error', text)}<p><a href="/login">Back to sign-in</a></p>`, status);
    };
    let result;
    try {
      result = await providers.finish(id, 'console', new URL(c.req.url), browserValue);
    } catch (e) {
      if (e instanceof OidcError) return refuse(e.code === 'token-invalid' || e.code === 'browser-mismatch' ? 403 : 400, 'anonymous', e.code, e.message);
      throw e;
    }
    const p = providers.get(id);
    const mapped = mapClaims(p, result.claims, 'console');
    if (!mapped.ok) return refuse(403, 'anonymous', mapped.code, mapped.message);
    const account = await provisionExternal({ users: deps.users, accounts: deps.externalAccounts, audit: deps.audit }, {
      providerId: id, issuer: result.issuer, subject: String(result.claims.sub), username: mapped.username,
      role: mapped.role, group: mapped.group, fallbackGroup: deps.config.policy.defaultGroup,
    });
    if (!account.ok) return refuse(403, 'anonymous', account.code, account.message);
    await startSession(deps, c, account.user);
    await audit(account.user.userId, account.user.role, 'allowed', `oidc:${id}`);
    const to = result.flow.returnTo ?? HOME[account.user.role] ?? '/my';
    return c.html(continuePage('Signed in', to, `Signed in as ${account.user.username}.`));
  });
}
