import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { html } from 'hono/html';
import { exportEvidencePack } from '../../core/evidence/export.ts';
import { tarGzDirectory } from '../../core/evidence/tarball.ts';
import { expiryProblem, type AuthRequest } from '../../core/authorisation/model.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, HttpError, int, str, type Ctx, type RouteTable } from '../access.ts';
import { activityInScope, KINDS, type Kind } from '../activity.ts';
import { nameResolver } from '../people.ts';
import { UUID_RE } from '../reports.ts';
import { requireReauth } from '../security/reauth.ts';
import { csrfField, when } from '../views/layout.ts';
import { reportBody, reportDownload } from '../views/report.ts';
import { investigationReports, produceInvestigationReport, readInvestigationReport } from '../investigation-reports.ts';

// Investigations: a director names one person, a stated allegation, a time window, the kinds of
// record and an expiry. With console.fourEyes a second director or the DPO must approve before it
// opens. Only the director who opened it, or someone they granted access to, sees the activity.

function parseTime(v: string, name: string): number {
  const t = Date.parse(v);
  if (!v || Number.isNaN(t)) throw new HttpError(400, `${name}: expected an ISO date or time such as 2026-03-02T09:00Z`);
  return t;
}

function kindsFrom(body: Record<string, unknown>): Kind[] {
  const raw = body.kinds;
  if (raw === undefined || raw === '') return [...KINDS];
  const list = Array.isArray(raw) ? raw : String(raw).split(',');
  const kinds = list.map((k) => String(k).trim()).filter(Boolean);
  const bad = kinds.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (bad.length || kinds.length === 0) throw new HttpError(400, `kinds: expected some of ${KINDS.join(', ')} (got ${bad.join(', ') || 'none'})`);
  return kinds as Kind[];
}

async function open(deps: ConsoleDeps, c: Ctx): Promise<AuthRequest> {
  const s = c.get('session')!;
  const b = c.get('body');
  const subjectName = str(b, 'subject', { required: true, max: 200 });
  const allegation = str(b, 'allegation', { required: true, max: 5000 });
  if (!allegation.trim()) throw new HttpError(400, 'allegation: required');
  const from = parseTime(str(b, 'from', { required: true, max: 40 }), 'from');
  const to = parseTime(str(b, 'to', { required: true, max: 40 }), 'to');
  if (to <= from) throw new HttpError(400, 'to: must be after from');
  const minutes = int(b, 'expires_in_minutes');
  const problem = expiryProblem(minutes);
  if (problem) throw new HttpError(400, problem);
  const kinds = kindsFrom(b);
  const subject = await deps.users.get(subjectName).catch(() => null);
  if (!subject) throw new HttpError(400, 'subject: no such user in the user directory');
  const req = await requestInvestigation(deps, s.userId, { subjectUserId: subject.userId, allegation, from, to, kinds, minutes });
  c.header('x-fairwatch-target', req.id);
  return req;
}

/**
 * Records an investigation request by director `by`; without console.fourEyes it is approved at
 * once (the opener's own authority), with it it waits for a second director or the DPO. Also the
 * path an alert takes (routes/alerts.ts), which names the subject by pseudonym only.
 */
export async function requestInvestigation(deps: ConsoleDeps, by: string, i: { subjectUserId: string; allegation: string; from: number; to: number; kinds: readonly Kind[]; minutes: number; fromAlert?: { id: string; pseudonym: string } }): Promise<AuthRequest> {
  const fourEyes = deps.config.console.fourEyes;
  const req = await deps.authz.request({
    subject: 'investigation', target: i.subjectUserId, requester: by, reason: i.allegation,
    details: { subject_user_id: i.subjectUserId, from: i.from, to: i.to, kinds: [...i.kinds], expires_in_minutes: i.minutes, four_eyes: fourEyes, ...(i.fromAlert ? { from_alert: i.fromAlert.id, subject_pseudonym: i.fromAlert.pseudonym } : {}) },
  });
  if (!fourEyes) return deps.authz.decide(req.id, 'approve', by, { expiresAt: deps.now() + i.minutes * 60_000 });
  return req;
}

/**
 * Who an investigation is about, for lists and the inbox. One that came from an alert stays a
 * pseudonym until it is approved: the opener asked without knowing the name, and must not learn it
 * from a waiting (or refused) request.
 */
export async function subjectOf(deps: ConsoleDeps, r: AuthRequest, name: (id: string) => Promise<string>) {
  if (r.details.from_alert && deps.authz.statusOf(r) !== 'approved') return html`pseudonym <code>${String(r.details.subject_pseudonym ?? '')}</code> (from an alert)`;
  return html`${await name(String(r.details.subject_user_id ?? ''))}`;
}

/** The investigation, when this person may see it now; 403 otherwise (also for other directors' ids). */
export async function mayView(deps: ConsoleDeps, c: Ctx, id = c.req.param('id')!): Promise<AuthRequest> {
  const s = c.get('session')!;
  const inv = UUID_RE.test(id) ? await deps.authz.get(id) : null;
  if (!inv || inv.subject !== 'investigation') throw new HttpError(404, `no investigation ${id}`);
  const own = inv.requester === s.userId;
  if (!own && !(await deps.authz.hasGrant(s.userId, 'investigation-access', id))) {
    throw new HttpError(403, 'only the director who opened this investigation, or someone they granted access, may see it');
  }
  const status = deps.authz.statusOf(inv);
  if (status !== 'approved') throw new HttpError(403, `this investigation is ${status === 'pending' ? 'waiting for a second approval' : status}`);
  return inv;
}

async function activityOf(deps: ConsoleDeps, inv: AuthRequest) {
  const subject = await deps.users.getById(String(inv.details.subject_user_id));
  if (!subject) throw new HttpError(404, 'the subject is no longer in the user directory');
  const scope = { pseudonym: deps.pseudonyms.user(subject.username), from: Number(inv.details.from), to: Number(inv.details.to), kinds: inv.details.kinds as Kind[] };
  return { subject, scope, activity: await activityInScope(deps, scope) };
}

/** The signed evidence pack of the investigation's scope as a .tar.gz download (same access as the activity, plus re-authentication). */
async function evidenceDownload(deps: ConsoleDeps, c: Ctx): Promise<Response> {
  const inv = await mayView(deps, c);
  await requireReauth(deps, c);
  const subject = await deps.users.getById(String(inv.details.subject_user_id));
  if (!subject) throw new HttpError(404, 'the subject is no longer in the user directory');
  const dir = mkdtempSync(join(tmpdir(), 'fairwatch-evidence-'));
  try {
    const packDir = join(dir, 'pack');
    await exportEvidencePack({ store: deps.store, config: deps.config, dataDir: deps.dataDir }, {
      investigationId: inv.id, subject: subject.username, subjectPseudonym: deps.pseudonyms.user(subject.username), allegation: inv.reason,
      from: new Date(Number(inv.details.from)).toISOString(), to: new Date(Number(inv.details.to)).toISOString(), kinds: inv.details.kinds as Kind[],
    }, packDir);
    const tgz = await tarGzDirectory(packDir);
    return c.body(new Uint8Array(tgz), 200, {
      'content-type': 'application/gzip', 'content-disposition': `attachment; filename="evidence-${inv.id}.tar.gz"`, 'cache-control': 'no-store',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function investigationRoutes(deps: ConsoleDeps, t: RouteTable): void {
  const reportLinks = async (invId: string) => {
    const ids = await investigationReports(deps, invId);
    return ids.length ? html`<ul>${ids.map((rid) => html`<li><a href="/investigations/${invId}/reports/${rid}">Report ${rid.slice(0, 8)}</a></li>`)}</ul>` : html`<p>None produced yet.</p>`;
  };
  t.add({ method: 'POST', path: '/investigations/:id/report', who: ['director', 'dpo', 'it'], audit: 'investigation.report' }, async (c) => {
    const inv = await mayView(deps, c);
    const rid = await produceInvestigationReport(deps, inv);
    return c.redirect(`/investigations/${inv.id}/reports/${rid}`, 303);
  });
  t.add({ method: 'POST', path: '/api/investigations/:id/report', who: ['director', 'dpo', 'it'], audit: 'investigation.report' }, async (c) => {
    const inv = await mayView(deps, c);
    return c.json({ report_id: await produceInvestigationReport(deps, inv) }, 201);
  });
  t.add({ method: 'GET', path: '/investigations/:id/reports/:rid', who: ['director', 'dpo', 'it'], audit: 'investigation.report-view' }, async (c) => {
    const inv = await mayView(deps, c);
    const r = await readInvestigationReport(deps, inv.id, c.req.param('rid')!);
    return frame(deps, c, 'Investigation report', html`<p class="no-print"><a href="/investigations/${inv.id}">Back to the investigation</a></p>
${reportBody(r, { exportAction: `/investigations/${inv.id}/reports/${r.meta.id}/export`, csrf: c.get('session')!.csrf })}`);
  });
  t.add({ method: 'POST', path: '/investigations/:id/reports/:rid/export', who: ['director', 'dpo', 'it'], audit: 'investigation.report-export' }, async (c) => {
    const inv = await mayView(deps, c);
    await requireReauth(deps, c);
    const r = await readInvestigationReport(deps, inv.id, c.req.param('rid')!);
    const d = reportDownload(r, str(c.get('body'), 'format', { max: 100 }));
    if ('error' in d) throw new HttpError(400, d.error);
    return c.body(d.body, 200, { 'content-type': d.type, 'content-disposition': `attachment; filename="${d.name}"`, 'cache-control': 'no-store' });
  });

  t.add({ method: 'GET', path: '/investigations', who: ['director', 'dpo', 'it'], audit: 'investigation.list' }, async (c) => {
    const s = c.get('session')!;
    const name = nameResolver(deps);
    const mine = await deps.authz.list({ subject: 'investigation', requester: s.userId });
    const delegated = (await deps.authz.list({ subject: 'investigation-access', requester: s.userId, status: 'approved' })).map((g) => g.target);
    const rows = await Promise.all(mine.map(async (r) => html`<tr><td><a href="/investigations/${r.id}">${await subjectOf(deps, r, name)}</a></td>
<td>${when(Number(r.details.from))} – ${when(Number(r.details.to))}</td><td>${deps.authz.statusOf(r)}</td><td>${when(r.approval?.expiresAt)}</td></tr>`));
    return frame(deps, c, 'Investigations', html`${s.role === 'director' ? html`<p><a href="/investigations/new">Open an investigation</a></p>` : ''}
<table><thead><tr><th>Subject</th><th>Window</th><th>Status</th><th>Expires</th></tr></thead><tbody>${rows}</tbody></table>
${delegated.length ? html`<h2>Shared with you</h2><ul>${delegated.map((id) => html`<li><a href="/investigations/${id}">${id}</a></li>`)}</ul>` : ''}`);
  });

  t.add({ method: 'GET', path: '/investigations/new', who: ['director'], audit: 'investigation.form' }, async (c) => frame(deps, c, 'Open an investigation', html`
<p>Only for a specific allegation of misconduct. The subject is not told; everything you open is in the audit log.${deps.config.console.fourEyes ? ' A second director or the DPO must approve before it opens.' : ''}</p>
<form method="post" action="/investigations">${csrfField(c.get('session')!.csrf)}
<label>Subject (user name) <input name="subject" required></label>
<label>Allegation <textarea name="allegation" required maxlength="5000"></textarea></label>
<label>From <input name="from" type="date" required></label><label>To <input name="to" type="date" required></label>
<label>Kinds of record (comma separated: ${KINDS.join(', ')}) <input name="kinds" value="${KINDS.join(',')}"></label>
<label>Expires in (minutes) <input name="expires_in_minutes" value="10080" required></label>
<button type="submit">Open</button></form>`));

  t.add({ method: 'POST', path: '/investigations', who: ['director'], audit: 'investigation.open' }, async (c) => {
    const inv = await open(deps, c);
    return c.redirect(deps.authz.statusOf(inv) === 'approved' ? `/investigations/${inv.id}` : '/investigations', 303);
  });
  t.add({ method: 'POST', path: '/api/investigations', who: ['director'], audit: 'investigation.open' }, async (c) => {
    const inv = await open(deps, c);
    return c.json({ id: inv.id, status: deps.authz.statusOf(inv) }, 201);
  });

  t.add({ method: 'GET', path: '/investigations/:id', who: ['director', 'dpo', 'it'], audit: 'investigation.view' }, async (c) => {
    const inv = await mayView(deps, c);
    const { subject, scope, activity } = await activityOf(deps, inv);
    const s = c.get('session')!;
    return frame(deps, c, `Investigation: ${subject.username}`, html`<p class="allegation">Allegation: ${inv.reason}</p>
<p>Window ${when(scope.from)} – ${when(scope.to)}; records: ${scope.kinds.join(', ')}; expires ${when(inv.approval?.expiresAt)}.</p>
<p>Requests: ${activity.requests}; time online: ${activity.time_online_minutes} minutes; sent ${activity.bytes_up} bytes, received ${activity.bytes_down} bytes.</p>
${activity.visits ? html`<h2>Sites</h2><table><thead><tr><th>Host</th><th>Requests</th><th>First</th><th>Last</th></tr></thead><tbody>${activity.visits.map((v) => html`<tr><td>${v.host}</td><td>${v.requests}</td><td>${v.first}</td><td>${v.last}</td></tr>`)}</tbody></table>` : ''}
${activity.downloads ? html`<h2>Downloads</h2><table><tbody>${activity.downloads.map((d) => html`<tr><td>${d.ts}</td><td>${d.host}</td><td>${d.filename}</td><td>${d.bytes_down}</td></tr>`)}</tbody></table>` : ''}
${activity.uploads ? html`<h2>Uploads</h2><table><tbody>${activity.uploads.map((u) => html`<tr><td>${u.ts}</td><td>${u.method}</td><td>${u.host}${u.path}</td><td>${u.bytes_up}</td></tr>`)}</tbody></table>` : ''}
${activity.blocked ? html`<h2>Blocked attempts</h2><table><tbody>${activity.blocked.map((b) => html`<tr><td>${b.ts}</td><td>${b.host}</td><td>${b.category}</td><td>${b.rule}</td></tr>`)}</tbody></table>` : ''}
${inv.requester === s.userId ? html`<h2>Share</h2><form method="post" action="/investigations/${inv.id}/delegate">${csrfField(s.csrf)}
<label>User name <input name="username" required></label><label>For (minutes) <input name="expires_in_minutes" value="1440" required></label><button type="submit">Grant access</button></form>` : ''}
<h2>Investigation report</h2>${await reportLinks(inv.id)}
<form method="post" action="/investigations/${inv.id}/report">${csrfField(s.csrf)}<p class="hint">A sealed report of the records in scope (this person, this window, these kinds of record): figures, a chart and the requests. Recorded in the audit log.</p><button type="submit">Produce the investigation report</button></form>
<h2>Evidence pack</h2><p>The records in scope as CSV and JSON with a signed manifest (check it with <code>fairwatch evidence verify FILE</code>). Confirm with your password or an authenticator code unless you signed in within the last five minutes.</p>
<form method="post" action="/investigations/${inv.id}/evidence">${csrfField(s.csrf)}
<label>Password <input name="password" type="password" autocomplete="current-password"></label><label>or code <input name="totp" inputmode="numeric" autocomplete="one-time-code"></label><button type="submit">Export evidence pack</button></form>`);
  });

  t.add({ method: 'GET', path: '/api/investigations/:id/activity', who: ['director', 'dpo', 'it'], audit: 'investigation.view' }, async (c) => {
    const inv = await mayView(deps, c);
    const { subject, scope, activity } = await activityOf(deps, inv);
    return c.json({ id: inv.id, subject: subject.username, from: new Date(scope.from).toISOString(), to: new Date(scope.to).toISOString(), kinds: scope.kinds, ...activity });
  });

  t.add({ method: 'POST', path: '/investigations/:id/evidence', who: ['director', 'dpo', 'it'], audit: 'investigation.export' }, (c) => evidenceDownload(deps, c));
  t.add({ method: 'POST', path: '/api/investigations/:id/evidence', who: ['director', 'dpo', 'it'], audit: 'investigation.export' }, (c) => evidenceDownload(deps, c));

  t.add({ method: 'POST', path: '/investigations/:id/delegate', who: ['director'], audit: 'investigation.delegate' }, async (c) => {
    const inv = await mayView(deps, c);
    const s = c.get('session')!;
    if (inv.requester !== s.userId) throw new HttpError(403, 'only the director who opened the investigation shares it');
    const b = c.get('body');
    const user = await deps.users.get(str(b, 'username', { required: true, max: 200 })).catch(() => null);
    if (!user || user.disabled || user.role === 'staff') throw new HttpError(400, 'username: not an enabled it, director or dpo account');
    const minutes = int(b, 'expires_in_minutes');
    const problem = expiryProblem(minutes);
    if (problem) throw new HttpError(400, problem);
    const g = await deps.authz.request({ subject: 'investigation-access', target: inv.id, requester: user.userId, reason: `shared by the opening director`, details: { granted_by: s.userId } });
    await deps.authz.decide(g.id, 'approve', s.userId, { expiresAt: Math.min(deps.now() + minutes * 60_000, inv.approval?.expiresAt ?? Infinity) });
    return c.redirect(`/investigations/${inv.id}`, 303);
  });
}
