import { html } from './html.ts';
import { layout, type Page } from './layout.ts';
import { displayUrl } from './block.ts';
import { formatWhen, staffUrl, type Site } from './site.ts';

// The warning interstitial: the site is allowed, but the policy asks people to think first.
// "Continue" posts to the console, which records it (event action `continue`) and lets the
// category through for the configured minutes, then sends the browser back to the site.

export interface WarnPageInput {
  site: Site;
  eventId: string;
  at: Date;
  url: string;
  categoryLabel: string;
  clause: string;
  minutes: number;
  /** page token with purpose 'continue' */
  token: string;
}

export function warnPage(input: WarnPageInput): Page {
  const { site } = input;
  const body = html`
<h1>Before you continue</h1>
<p class="band warn">This site is in a category the internet policy asks you to use with care.</p>
<blockquote><p>${input.clause}</p></blockquote>
<dl class="facts">
<dt>Site</dt><dd>${displayUrl(input.url)}</dd>
<dt>Category</dt><dd>${input.categoryLabel}</dd>
<dt>When</dt><dd>${formatWhen(input.at, site.timezone)}</dd>
<dt>Reference</dt><dd><code>${input.eventId}</code></dd>
</dl>
<p>If you continue, that is recorded, and sites in this category open without this page for the next ${input.minutes} minutes.</p>
<form method="post" action="${staffUrl(site, 'continue')}" class="actions">
<input type="hidden" name="t" value="${input.token}">
<input type="hidden" name="return" value="${input.url}">
<button type="submit">Continue</button>
</form>
`;
  return layout({ site, title: 'Before you continue', body, status: 200, formOrigins: [input.url] });
}
