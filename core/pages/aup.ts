import { html, safeHref } from './html.ts';
import { layout, type Page } from './layout.ts';
import { staffUrl, type Site } from './site.ts';

// The acceptable-use statement (config `aup`: version and text). With a token (the proxy sent the
// person here) it has an "I accept" button; opened directly it is for reading only.

export interface AupPageInput {
  site: Site;
  version: string;
  text: string;
  /** page token with purpose 'aup', when the person is being asked to accept */
  token?: string;
  returnUrl?: string;
  /** already accepted this version */
  accepted?: boolean;
}

const paragraphs = (text: string) => text.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);

export function aupPage(input: AupPageInput): Page {
  const { site } = input;
  const ret = input.returnUrl ? safeHref(input.returnUrl) : '';
  const body = html`
<h1>Acceptable-use statement</h1>
<p class="hint">Version ${input.version}</p>
<blockquote>${paragraphs(input.text).map((p) => html`<p>${p}</p>`)}</blockquote>
${site.policyUrl ? html`<p>The full policy: <a href="${safeHref(site.policyUrl)}">internet and email policy</a>.</p>` : ''}
<p>What is recorded, why, for how long and who may see it is explained on <a href="${staffUrl(site, 'transparency')}">What is recorded and why</a>.</p>
${input.accepted ? html`<p class="band ok">You have accepted this version.</p>` : ''}
${input.token && !input.accepted ? html`<form method="post" action="${staffUrl(site, 'aup')}" class="actions">
<input type="hidden" name="t" value="${input.token}">
<input type="hidden" name="return" value="${ret === '#' ? '' : ret}">
<button type="submit">I accept</button>
</form>` : ''}
${!input.token && !input.accepted ? html`<p class="hint">You will be asked to accept this statement the first time you browse, and again whenever it changes.</p>` : ''}
`;
  return layout({ site, title: 'Acceptable-use statement', body, formOrigins: ret && ret !== '#' ? [ret] : [] });
}

export function aupAcceptedPage(site: Site, version: string, returnUrl?: string): Page {
  const ret = returnUrl ? safeHref(returnUrl) : '#';
  const body = html`
<h1>Thank you</h1>
<p class="band ok">You accepted version ${version} of the acceptable-use statement. The time of your acceptance has been recorded.</p>
${ret !== '#' ? html`<div class="actions"><a class="button" href="${ret}">Continue to the site</a></div>` : ''}
`;
  return layout({ site, title: 'Statement accepted', body });
}
