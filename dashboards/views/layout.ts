import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Session } from '../security/session.ts';
import { CONSOLE_CSS } from './console-css.ts';

// One page frame for every console page. hono/html escapes every interpolated value; only other
// html`` fragments pass through unescaped. No inline script or style anywhere (the CSP forbids it).

export type Fragment = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface PageFrame {
  title: string;
  orgName: string;
  session: Session | null;
  username?: string;
  csrf?: string;
  /** directors: pending requests, shown on every page */
  pending?: number;
  /** directors and the DPO: open alerts, shown on every page */
  alerts?: number;
  /** the request path, to mark the current navigation entry */
  path?: string;
}

const NAV: Record<string, Array<[string, string]>> = {
  staff: [['/my', 'My page']],
  it: [['/home', 'Overview'], ['/health', 'Health'], ['/people', 'People'], ['/reports', 'Reports'], ['/policy-test', 'Policy tester'], ['/lists', 'List health'], ['/my', 'My page']],
  director: [['/home', 'Overview'], ['/inbox', 'Inbox'], ['/alerts', 'Alerts'], ['/grants', 'Active grants'], ['/investigations', 'Investigations'], ['/reports', 'Reports'], ['/people', 'People'], ['/legal-holds', 'Legal holds'], ['/disclosures', 'Disclosures'], ['/privacy/dpia', 'DPIA'], ['/audit', 'Audit log'], ['/my', 'My page']],
  dpo: [['/home', 'Overview'], ['/inbox', 'Inbox'], ['/alerts', 'Alerts'], ['/investigations', 'Investigations'], ['/legal-holds', 'Legal holds'], ['/disclosures', 'Disclosures'], ['/privacy/dpia', 'DPIA'], ['/audit', 'Audit log'], ['/my', 'My page']],
};

export function page(f: PageFrame, body: Fragment): Fragment {
  const nav = f.session ? NAV[f.session.role] ?? [] : [];
  const current = f.path ?? '';
  return html`<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${f.title} · fairwatch</title><link rel="stylesheet" href="/static/console.css"></head>
<body><a class="skip" href="#main">Skip to content</a><header class="org console"><a class="name" href="/">fairwatch · ${f.orgName}</a>
${f.session ? html`<nav aria-label="Console">${nav.map(([href, label]) => html`<a href="${href}"${href === current ? html` aria-current="page"` : ''}>${label}</a>`)}
${f.pending !== undefined ? html`<a href="/inbox" class="pending">Pending requests: <span id="pending-count">${f.pending}</span></a>` : ''}
${f.alerts !== undefined ? html`<a href="/alerts" class="pending">Open alerts: <span id="alerts-count">${f.alerts}</span></a>` : ''}</nav>
<form method="post" action="/logout" class="inline who"><input type="hidden" name="_csrf" value="${f.csrf ?? ''}"><span>${f.username ?? ''} (${f.session.role})</span> <button type="submit">Sign out</button></form>` : ''}
</header><main id="main" class="console${f.session ? '' : ' narrow'}"><h1>${f.title}</h1>${body}</main></body></html>`;
}

export function csrfField(csrf: string): Fragment {
  return html`<input type="hidden" name="_csrf" value="${csrf}">`;
}

export function when(ms: number | null | undefined): string {
  return ms ? new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—';
}

export function message(kind: 'error' | 'ok', text: string): Fragment {
  return html`<p class="${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>`;
}

export const CSS = raw(CONSOLE_CSS);
export const CSS_PATH = '/static/console.css';
