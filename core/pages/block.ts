import { html } from './html.ts';
import { layout, type Page } from './layout.ts';
import { formatWhen, type Site } from './site.ts';
import { ruleDescription } from './words.ts';

// The block page (docs/architecture/contract.md, "Proxy behaviour"): what was blocked, in plain words, the policy
// clause, when, which rule, the reference (event id), and the two things a person can do about it.

export interface BlockPageInput {
  site: Site;
  eventId: string;
  at: Date;
  /** the address asked for (scheme://host/path, no query string) */
  url: string;
  categoryLabel: string;
  rule: string;
  clause: string;
  /** token-carrying console links */
  links: { exception: string; accident: string };
  /** a virus scanner's finding: the page is about the file, and offers "report a false positive" */
  signature?: string;
}

/** Long URLs are shortened for display only; the page never needs the whole of one. */
export function displayUrl(url: string, max = 120): string {
  return url.length > max ? url.slice(0, max - 1) + '…' : url;
}

export function blockPage(input: BlockPageInput): Page {
  if (input.signature) return virusPage(input, input.signature);
  const { site } = input;
  const body = html`
<h1>This site is blocked</h1>
<p class="band block">${site.orgName}'s internet policy does not allow this site from this network.</p>
<blockquote><p>${input.clause}</p></blockquote>
<dl class="facts">
<dt>Site</dt><dd>${displayUrl(input.url)}</dd>
<dt>Category</dt><dd>${input.categoryLabel}</dd>
<dt>Which rule</dt><dd>${ruleDescription(input.rule)}</dd>
<dt>When</dt><dd>${formatWhen(input.at, site.timezone)}</dd>
<dt>Reference</dt><dd><code>${input.eventId}</code></dd>
</dl>
<p>The attempt has been recorded, as every visit is. If you need this site for your work, ask the director for an exception and say why. If you reached it by accident, please report it: the policy asks you to, and a report shows it was not deliberate.</p>
<div class="actions">
<a class="button" href="${input.links.exception}">I need this for my work</a>
<a class="button secondary" href="${input.links.accident}">I reached this by accident</a>
</div>
<p class="hint">Questions: ${site.contact}. Quote the reference above.</p>
`;
  return layout({ site, title: 'This site is blocked', body, status: 403 });
}

/** A download the virus scanner found infected: the signature, and the way to say it is a false positive. */
function virusPage(input: BlockPageInput, signature: string): Page {
  const { site } = input;
  const body = html`
<h1>This file was blocked: a virus was found</h1>
<p class="band block">The virus scanner found <strong>${signature}</strong> in this download, so it was not delivered.</p>
<blockquote><p>${input.clause}</p></blockquote>
<dl class="facts">
<dt>File</dt><dd>${displayUrl(input.url)}</dd>
<dt>Virus found</dt><dd><code>${signature}</code></dd>
<dt>When</dt><dd>${formatWhen(input.at, site.timezone)}</dd>
<dt>Reference</dt><dd><code>${input.eventId}</code></dd>
</dl>
<p>Do not try to fetch the file another way. If you are sure it is safe (scanners are sometimes wrong), report a false positive: IT will look at it. If you did not mean to download it, report it as an accident.</p>
<div class="actions">
<a class="button" href="${input.links.exception}">Report a false positive</a>
<a class="button secondary" href="${input.links.accident}">I reached this by accident</a>
</div>
<p class="hint">Questions: ${site.contact}. Quote the reference above.</p>
`;
  return layout({ site, title: 'A virus was found', body, status: 403 });
}

export interface GatePageInput {
  site: Site;
  eventId: string;
  at: Date;
  url: string;
  /** console link (with token) to the statement or to sign in */
  link: string;
}

/** Shown for an HTTPS site while the person has not accepted the current statement. */
export function aupRequiredPage(input: GatePageInput): Page {
  const body = html`
<h1>Please accept the acceptable-use statement first</h1>
<p class="band warn">Before using the internet here, read ${input.site.orgName}'s acceptable-use statement and accept it. You only need to do this once for each version of the statement.</p>
<dl class="facts">
<dt>Site</dt><dd>${displayUrl(input.url)}</dd>
<dt>When</dt><dd>${formatWhen(input.at, input.site.timezone)}</dd>
<dt>Reference</dt><dd><code>${input.eventId}</code></dd>
</dl>
<div class="actions"><a class="button" href="${input.link}">Read the statement</a></div>
<p class="hint">After accepting, open the site again.</p>
`;
  return layout({ site: input.site, title: 'Acceptable-use statement', body, status: 403 });
}

/** Shown on sign-in networks to a browser nobody has signed in on. */
export function signInRequiredPage(input: GatePageInput): Page {
  const body = html`
<h1>Please sign in to use the internet</h1>
<p class="band warn">This computer is on a shared network. Sign in with your ${input.site.orgName} account so your browsing is recorded under your name and not someone else's.</p>
<dl class="facts">
<dt>Site</dt><dd>${displayUrl(input.url)}</dd>
<dt>Reference</dt><dd><code>${input.eventId}</code></dd>
</dl>
<div class="actions"><a class="button" href="${input.link}">Sign in</a></div>
`;
  return layout({ site: input.site, title: 'Sign in', body, status: 403 });
}
