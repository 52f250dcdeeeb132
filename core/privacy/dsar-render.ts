import { toCsv } from '../reports/csv.ts';
import type { Cell } from '../reports/model.ts';
import { html, raw, type Html } from '../pages/html.ts';

// Renders a subject access export (pure): readable HTML and one CSV per kind of record, each with
// an explanation of every field (also as fields.csv), in the organisation's time zone.

export interface SubjectAccessData {
  username: string;
  pseudonym: string;
  inDirectory: boolean;
  group: string | null;
  events: Array<{
    t: number; event_id: string; user_group: string; method: string; scheme: string; host: string; port: number; path: string;
    status: number; category: string; action: string; rule: string; bytes_up: number; bytes_down: number; content_type: string;
    filename: string; flags: string[];
  }>;
  acceptances: Array<{ t: number; version: string }>;
  requests: Array<{
    id: string; kind: string; t: number; site: string; category: string; reason: string; status: string;
    decidedAt: number | null; decisionNote: string; expiresAt: number | null;
  }>;
  truncated: boolean;
}

type Field = [name: string, meaning: string];

export const EVENT_FIELDS: Field[] = [
  ['time', 'When the request or connection ended, in the organisation\'s time zone (ISO 8601 with offset).'],
  ['site', 'The web site (host name) the request went to.'],
  ['path', 'The page or file on that site, without the part after "?" (query strings are not kept unless the organisation turned that on).'],
  ['method', 'How the browser asked: GET reads a page, POST sends a form, CONNECT opens an encrypted (HTTPS) connection whose pages are not seen.'],
  ['category', 'The category the site is listed under in the organisation\'s blocklists (e.g. news, social_networks), or empty when unlisted.'],
  ['action', 'What fairwatch did: allow, block, warn (a warning page was shown), quota (a daily time limit applied) or log.'],
  ['rule', 'The policy rule that decided the action.'],
  ['status', 'The HTTP status code the site (or fairwatch) answered with.'],
  ['bytes sent', 'Bytes your device sent to the site (e.g. an upload).'],
  ['bytes received', 'Bytes the site sent to your device.'],
  ['file name', 'The name of a file downloaded, when the site named one.'],
  ['content type', 'The kind of content the site said it sent (e.g. text/html).'],
  ['flags', 'Notes fairwatch attached, e.g. executable (an installer was downloaded) or large-upload.'],
  ['group', 'The group you were in at the time (it decides which rules apply).'],
  ['reference', 'The event id: the reference shown on block pages.'],
];

export const ACCEPTANCE_FIELDS: Field[] = [
  ['time', 'When you accepted the acceptable-use statement.'],
  ['version', 'The version of the statement you accepted.'],
];

export const REQUEST_FIELDS: Field[] = [
  ['time', 'When you sent the request from a block page.'],
  ['kind', '"work exception" (you asked for a site to be allowed for work) or "accidental visit" (you reported reaching a blocked site by accident).'],
  ['site', 'The site the request was about.'],
  ['category', 'The category of that site.'],
  ['your reason', 'What you wrote.'],
  ['status', 'pending, approved, refused, revoked or expired (an exception that has run out).'],
  ['decided', 'When a director decided it (the director is not named here: that is their personal data).'],
  ['expires', 'When an approved exception runs out.'],
  ['note', 'The reason given with a refusal.'],
];

const KIND_LABEL: Record<string, string> = { 'work-exception': 'work exception', 'self-report': 'accidental visit' };

/** ISO 8601 local time with offset in `tz`. */
export function localIso(ms: number, tz: string): string {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'longOffset',
  }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const off = (parts.timeZoneName ?? 'GMT').replace('GMT', '') || '+00:00';
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${off}`;
}

export function renderSubjectAccess(d: SubjectAccessData, org: { name: string; timezone: string; contact: string }, now: Date): Record<string, string> {
  const tz = org.timezone;
  const at = (ms: number | null) => (ms === null ? '' : localIso(ms, tz));
  const eventRows: Cell[][] = d.events.map((e) => [at(e.t), e.host, e.path, e.method, e.category, e.action, e.rule, e.status, e.bytes_up, e.bytes_down,
    e.filename, e.content_type, e.flags.join(' '), e.user_group, e.event_id]);
  const accRows: Cell[][] = d.acceptances.map((a) => [at(a.t), a.version]);
  const reqRows: Cell[][] = d.requests.map((r) => [at(r.t), KIND_LABEL[r.kind] ?? r.kind, r.site, r.category, r.reason, r.status, at(r.decidedAt), at(r.expiresAt), r.decisionNote]);
  const tables: Array<{ file: string; title: string; fields: Field[]; rows: Cell[][] }> = [
    { file: 'events.csv', title: 'Web requests recorded', fields: EVENT_FIELDS, rows: eventRows },
    { file: 'acceptances.csv', title: 'Acceptances of the acceptable-use statement', fields: ACCEPTANCE_FIELDS, rows: accRows },
    { file: 'requests.csv', title: 'Work exceptions and accidental-visit reports you sent', fields: REQUEST_FIELDS, rows: reqRows },
  ];
  const files: Record<string, string> = {};
  for (const t of tables) files[t.file] = toCsv({ columns: t.fields.map(([n]) => n), rows: t.rows });
  files['fields.csv'] = toCsv({ columns: ['file', 'field', 'meaning'], rows: tables.flatMap((t) => t.fields.map(([n, m]) => [t.file, n, m])) });
  const HTML_ROWS = 5000;
  const section = (t: (typeof tables)[number]): Html => html`<section><h2>${t.title} (${t.rows.length})</h2>
<p>Also in <a href="${t.file}">${t.file}</a>${t.rows.length > HTML_ROWS ? `; this page shows the first ${HTML_ROWS}` : ''}.</p>
<details><summary>What each column means</summary><dl>${t.fields.map(([n, m]) => html`<dt>${n}</dt><dd>${m}</dd>`)}</dl></details>
${t.rows.length === 0 ? html`<p>None.</p>` : html`<table><thead><tr>${t.fields.map(([n]) => html`<th>${n}</th>`)}</tr></thead>
<tbody>${t.rows.slice(0, HTML_ROWS).map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`}</section>`;
  const first = d.events[0]?.t;
  const last = d.events.at(-1)?.t;
  files['index.html'] = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Your web-use records: ${org.name}</title>
<style>${raw('body{font:15px/1.45 system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}dt{font-weight:600}')}</style></head>
<body><h1>Your web-use records</h1>
<p>${org.name} keeps these records about <strong>${d.username}</strong> in its web-use monitoring system (fairwatch). This is your copy under your right of access (UK GDPR article 15). Produced ${localIso(now.getTime(), tz)}; times are in ${tz}.</p>
<ul>
<li>Records are stored under a pseudonym (${d.pseudonym}), not your name; this export was found by that pseudonym only, so it holds nothing about anyone else.</li>
<li>${d.inDirectory ? `Your account's group: ${d.group ?? ''}.` : 'You have no account in the fairwatch user directory (you may be identified by a sign-in elsewhere or your desk\'s address).'}</li>
<li>Web requests: ${d.events.length}${first !== undefined ? `, from ${at(first)} to ${at(last!)}` : ''}${d.truncated ? ' (the export holds the oldest rows up to its limit; ask for the rest)' : ''}.</li>
<li>Questions, or to ask for a correction: ${org.contact}.</li>
</ul>
${tables.map(section)}
</body></html>
`.text;
  return files;
}
