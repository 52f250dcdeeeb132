import { html } from './html.ts';
import { layout, type Page } from './layout.ts';
import { staffUrl, type Site } from './site.ts';

// "I need this for my work" (a work-exception request the director decides) and "I reached this
// by accident" (a self-report the policy asks for). Both reached from a block page by a token link.

export const REASON_MAX = 2000;

export interface RequestFormInput {
  site: Site;
  token: string;
  eventId: string;
  host: string;
  categoryLabel: string;
  error?: string;
  reason?: string;
}

/** What both request forms show about the blocked visit, and the error of a refused submission. */
function requestFacts(input: RequestFormInput) {
  return html`<dl class="facts">
<dt>Site</dt><dd>${input.host}</dd>
<dt>Category</dt><dd>${input.categoryLabel}</dd>
<dt>Reference</dt><dd><code>${input.eventId}</code></dd>
</dl>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}`;
}

export function exceptionFormPage(input: RequestFormInput): Page {
  const { site } = input;
  const body = html`
<h1>Ask for a work exception</h1>
<p>The director decides. Say what the site is needed for; the director sees your reason, the site and its category, and the reference, but not your other browsing.</p>
${requestFacts(input)}
<form method="post" action="${staffUrl(site, 'requestException')}">
<input type="hidden" name="t" value="${input.token}">
<label for="reason">Why do you need this site for your work?</label>
<p class="hint" id="reason-hint">For example: safeguarding research for a case, or a supplier's page.</p>
<textarea id="reason" name="reason" required maxlength="${REASON_MAX}" aria-describedby="reason-hint">${input.reason ?? ''}</textarea>
<div class="actions"><button type="submit">Send the request</button></div>
</form>
`;
  return layout({ site, title: 'Ask for a work exception', body, status: input.error ? 400 : 200 });
}

export function accidentFormPage(input: RequestFormInput): Page {
  const { site } = input;
  const body = html`
<h1>Report an accidental visit</h1>
<p>Thank you for reporting it. The report is recorded with the reference below and sent to the director; it shows the visit was not deliberate.</p>
${requestFacts(input)}
<form method="post" action="${staffUrl(site, 'reportAccident')}">
<input type="hidden" name="t" value="${input.token}">
<label for="reason">What happened? (optional)</label>
<p class="hint" id="reason-hint">For example: a link in an email, a mistyped address, an advert.</p>
<textarea id="reason" name="reason" maxlength="${REASON_MAX}" aria-describedby="reason-hint">${input.reason ?? ''}</textarea>
<div class="actions"><button type="submit">Send the report</button></div>
</form>
`;
  return layout({ site, title: 'Report an accidental visit', body, status: input.error ? 400 : 200 });
}

export function requestSentPage(site: Site, kind: 'exception' | 'accident', requestId: string): Page {
  const body = kind === 'exception'
    ? html`
<h1>Request sent</h1>
<p class="band ok">Your request for a work exception has been sent to the director.</p>
<dl class="facts"><dt>Request reference</dt><dd><code>${requestId}</code></dd></dl>
<p>Until the director approves it, the site stays blocked. Ask ${site.contact} if it is urgent.</p>
`
    : html`
<h1>Report received</h1>
<p class="band ok">Thank you. Your report of an accidental visit has been recorded and sent to the director.</p>
<dl class="facts"><dt>Report reference</dt><dd><code>${requestId}</code></dd></dl>
`;
  return layout({ site, title: kind === 'exception' ? 'Request sent' : 'Report received', body });
}

/** A link that cannot be used (expired, changed, already used), or any other problem. */
export function problemPage(site: Site, title: string, message: string, status = 400): Page {
  const body = html`
<h1>${title}</h1>
<p class="band block">${message}</p>
<p>If you need help, contact ${site.contact}.</p>
<p><a href="${staffUrl(site, 'transparency')}">What is recorded and why</a></p>
`;
  return layout({ site, title, body, status });
}
