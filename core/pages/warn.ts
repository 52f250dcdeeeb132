import { html } from './html.ts';
import { layout, type Page } from './layout.ts';
import { displayUrl } from './block.ts';
import { formatWhen, staffUrl, type Site } from './site.ts';

// The warning interstitial: the site is allowed, but the policy asks people to think first.
// "Continue" is a link to the console (a cross-site form post would rightly be refused by the
// console's CSRF check); the single-use token makes the GET safe to act on. The console records it
// (event action `continue`), lets the category through for the configured minutes and sends the
// browser back to the site.

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
<div class="actions"><a class="button" href="${staffUrl(site, 'continue', { t: input.token, return: input.url })}">Continue</a></div>
`;
  return layout({ site, title: 'Before you continue', body, status: 200 });
}
