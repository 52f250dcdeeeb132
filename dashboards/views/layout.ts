import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Session } from '../security/session.ts';

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
}

const NAV: Record<string, Array<[string, string]>> = {
  staff: [['/my', 'My requests']],
  it: [['/reports', 'Reports'], ['/policy-test', 'Policy tester'], ['/lists', 'List health'], ['/my', 'My requests']],
  director: [['/inbox', 'Inbox'], ['/grants', 'Active grants'], ['/investigations', 'Investigations'], ['/reports', 'Reports'], ['/audit', 'Audit log']],
  dpo: [['/inbox', 'Inbox'], ['/investigations', 'Investigations'], ['/audit', 'Audit log']],
};

export function page(f: PageFrame, body: Fragment): Fragment {
  const nav = f.session ? NAV[f.session.role] ?? [] : [];
  return html`<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${f.title} · fairwatch</title><link rel="stylesheet" href="/static/console.css"></head>
<body><header><strong>fairwatch</strong> · ${f.orgName}
${f.session ? html`<nav>${nav.map(([href, label]) => html`<a href="${href}">${label}</a> `)}
${f.pending !== undefined ? html`<a href="/inbox" class="pending">Pending requests: <span id="pending-count">${f.pending}</span></a>` : ''}
<form method="post" action="/logout" class="inline"><input type="hidden" name="_csrf" value="${f.csrf ?? ''}"><span>${f.username ?? ''} (${f.session.role})</span> <button type="submit">Sign out</button></form></nav>` : ''}
</header><main><h1>${f.title}</h1>${body}</main></body></html>`;
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

export const CSS = raw(`body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b}header{background:#233;color:#fff;padding:.6em 1em}
header a{color:#fff;margin-right:1em}nav{display:inline-block;margin-left:2em}form.inline{display:inline}main{padding:1em 2em;max-width:70em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.error{color:#a00;font-weight:bold}.ok{color:#060}.pending{background:#c60;padding:.1em .5em;border-radius:.3em}
label{display:block;margin:.5em 0}input,textarea,select{font:inherit}textarea{width:30em;height:5em}
iframe{width:100%;height:30em;border:1px solid #ccc}pre{background:#f4f4f4;padding:.5em;overflow:auto}`);
