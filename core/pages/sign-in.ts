import { html, safeHref } from './html.ts';
import { layout, type Page } from './layout.ts';
import { formatWhen, staffUrl, type Site } from './site.ts';

// Sign-in for shared networks: binds this device's address to the person for a few hours.

export interface SignInPageInput {
  site: Site;
  /** page token with purpose 'sign-in' (binds the device), when the proxy sent the browser here */
  token?: string;
  returnUrl?: string;
  error?: string;
  username?: string;
  hours: number;
  /** identity.oidc providers offered as "Sign in with …" buttons */
  providers?: ReadonlyArray<{ id: string; displayName: string }>;
}

export function signInPage(input: SignInPageInput): Page {
  const { site } = input;
  const ret = input.returnUrl ? safeHref(input.returnUrl) : '';
  const body = html`
<h1>Sign in to use the internet</h1>
<p>This computer is shared. Sign in with your ${site.orgName} account; the computer is then linked to you for up to ${input.hours} hours, or until you sign out.</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.providers?.length ? html`<div class="providers">${input.providers.map((p) => html`<form method="post" action="${staffUrl(site, 'signIn')}/oidc/${p.id}">
<input type="hidden" name="t" value="${input.token ?? ''}">
<input type="hidden" name="return" value="${ret === '#' ? '' : ret}">
<button type="submit">Sign in with ${p.displayName}</button></form>`)}</div>
<p class="hint">Or with a fairwatch user name and password:</p>` : ''}
<form method="post" action="${staffUrl(site, 'signIn')}">
<input type="hidden" name="t" value="${input.token ?? ''}">
<input type="hidden" name="return" value="${ret === '#' ? '' : ret}">
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" required maxlength="64" value="${input.username ?? ''}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required maxlength="1024">
<div class="actions"><button type="submit">Sign in</button></div>
</form>
<p class="hint">Signing in does not show anyone your browsing: see <a href="${staffUrl(site, 'transparency')}">what is recorded and why</a>.</p>
`;
  return layout({ site, title: 'Sign in', body, status: input.error ? 401 : 200 });
}

export function signedInPage(site: Site, input: { username: string; until: Date; signOutToken: string; returnUrl?: string }): Page {
  const ret = input.returnUrl ? safeHref(input.returnUrl) : '#';
  const body = html`
<h1>You are signed in</h1>
<p class="band ok">Signed in as ${input.username} until ${formatWhen(input.until, site.timezone)}.</p>
<p>Sign out when you leave this computer, so nobody else browses in your name.</p>
<div class="actions">
${ret !== '#' ? html`<a class="button" href="${ret}">Continue to the site</a>` : ''}
<form method="post" action="${staffUrl(site, 'signOut')}"><input type="hidden" name="t" value="${input.signOutToken}"><button type="submit" class="secondary">Sign out</button></form>
</div>
`;
  return layout({ site, title: 'Signed in', body, formOrigins: ret !== '#' ? [ret] : [] });
}

export function signedOutPage(site: Site, wasSignedIn: boolean): Page {
  const body = html`
<h1>You are signed out</h1>
<p class="band ok">${wasSignedIn ? 'This computer is no longer linked to you.' : 'This computer was not linked to anyone.'}</p>
<div class="actions"><a class="button secondary" href="${staffUrl(site, 'signIn')}">Sign in again</a></div>
`;
  return layout({ site, title: 'Signed out', body });
}
