import { html } from 'hono/html';
import { expiryProblem } from '../../core/authorisation/model.ts';
import type { Alert } from '../../core/alerts/store.ts';
import { categoryLabel } from '../../core/pages/words.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, HttpError, int, str, type Ctx, type RouteTable } from '../access.ts';
import { KINDS } from '../activity.ts';
import { csrfField, message, when } from '../views/layout.ts';
import { requestInvestigation } from './investigations.ts';

// Alerts (issue 19): directors and the DPO see them, under a pseudonym, with the category, the
// counts and the window; every look is audited. A director either asks for an investigation — the
// request carries the pseudonym (resolved to the person on the server, shown only once the
// investigation is approved, by the usual flow) — or dismisses the alert with a reason. IT and
// staff never see alerts (CONTRACT: GET /api/alerts is for director and dpo).

const VIEWERS = ['director', 'dpo'] as const;
const DEFAULT_EXPIRY_MINUTES = 7 * 24 * 60;
const ACTING_KEY = (id: string) => `fairwatch:alerts:acting:${id}`;

const STATUS: Record<Alert['status'], string> = { open: 'Open', investigation: 'Investigation requested', dismissed: 'Dismissed' };

function periodWords(a: Alert): string {
  return a.kind === 'hour' ? `hour ${when(a.from)} – ${when(a.to).slice(11)}` : `day from ${when(a.from)}`;
}

function asJson(deps: ConsoleDeps, a: Alert) {
  return {
    id: a.id, pseudonym: a.pseudonym, category: a.category, category_label: categoryLabel(deps.config, a.category),
    period: a.kind, from: new Date(a.from).toISOString(), to: new Date(a.to).toISOString(),
    attempts: a.attempts, threshold: a.threshold, first_seen: new Date(a.firstSeen).toISOString(), last_seen: new Date(a.lastSeen).toISOString(),
    raised_at: new Date(a.raisedAt).toISOString(), status: a.status, investigation_id: a.requestId,
    acted_at: a.actedAt ? new Date(a.actedAt).toISOString() : null, reason: a.status === 'dismissed' ? a.reason : null,
  };
}

async function loadAlert(deps: ConsoleDeps, c: Ctx): Promise<Alert> {
  const a = await deps.alerts.get(c.req.param('id')!);
  if (!a) throw new HttpError(404, `no alert ${c.req.param('id')!.slice(0, 40)}`);
  return a;
}

/** Runs `act` on an open alert, one director at a time (a second click or a colleague gets 409). */
async function onOpenAlert<T>(deps: ConsoleDeps, c: Ctx, act: (a: Alert) => Promise<T>): Promise<T> {
  const a = await loadAlert(deps, c);
  if (a.status !== 'open') throw new HttpError(409, `this alert was already acted on (${STATUS[a.status].toLowerCase()})`);
  const lock = await deps.redis.set(ACTING_KEY(a.id), '1', 'EX', 60, 'NX');
  if (lock !== 'OK') throw new HttpError(409, 'another director is acting on this alert right now');
  try {
    // read again under the lock: the other may have finished just before
    const now = await deps.alerts.get(a.id);
    if (!now || now.status !== 'open') throw new HttpError(409, 'this alert was already acted on');
    return await act(now);
  } finally {
    await deps.redis.del(ACTING_KEY(a.id)).catch(() => undefined);
  }
}

function timeField(v: string, name: string, fallback: number): number {
  if (!v) return fallback;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new HttpError(400, `${name}: expected an ISO date or time such as 2026-03-02T09:00Z`);
  return t;
}

async function investigate(deps: ConsoleDeps, c: Ctx) {
  const s = c.get('session')!;
  const b = c.get('body');
  const allegation = str(b, 'allegation', { required: true, max: 5000 }).trim();
  if (!allegation) throw new HttpError(400, 'allegation: required');
  const minutes = b.expires_in_minutes === undefined || b.expires_in_minutes === '' ? DEFAULT_EXPIRY_MINUTES : int(b, 'expires_in_minutes');
  const problem = expiryProblem(minutes);
  if (problem) throw new HttpError(400, problem);
  return onOpenAlert(deps, c, async (a) => {
    const from = timeField(str(b, 'from', { max: 40 }), 'from', a.from);
    const to = timeField(str(b, 'to', { max: 40 }), 'to', a.to);
    if (to <= from) throw new HttpError(400, 'to: must be after from');
    // the pseudonym is turned back into a person here, on the server; nobody sees who until the
    // investigation is approved (at once without console.fourEyes, as when a director opens one)
    const users = await deps.users.list();
    const subject = users.find((u) => deps.pseudonyms.user(u.username) === a.pseudonym);
    if (!subject) throw new HttpError(409, 'the person behind this pseudonym is not in the user directory (a guest, or a name from a device map): open an investigation by name instead');
    const req = await requestInvestigation(deps, s.userId, { subjectUserId: subject.userId, allegation, from, to, kinds: KINDS, minutes, fromAlert: { id: a.id, pseudonym: a.pseudonym } });
    await deps.alerts.act(a.id, 'investigation', s.userId, '', req.id, deps.now());
    return { alert: a, investigation: req, status: deps.authz.statusOf(req) };
  });
}

async function dismiss(deps: ConsoleDeps, c: Ctx) {
  const s = c.get('session')!;
  const reason = str(c.get('body'), 'reason', { required: true, max: 2000 }).trim();
  if (!reason) throw new HttpError(400, 'reason: required');
  await onOpenAlert(deps, c, (a) => deps.alerts.act(a.id, 'dismiss', s.userId, reason, '', deps.now()));
  c.header('x-fairwatch-reason', encodeURIComponent(reason));
}

export function alertRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'GET', path: '/alerts', who: VIEWERS, audit: 'alert.list' }, async (c) => {
    const all = await deps.alerts.list();
    const open = all.filter((a) => a.status === 'open');
    const done = all.filter((a) => a.status !== 'open');
    const a = deps.config.policy.alerts;
    const row = (x: Alert) => html`<tr><td><a href="/alerts/${x.id}"><code>${x.pseudonym}</code></a></td><td>${categoryLabel(deps.config, x.category)}</td>
<td>${periodWords(x)}</td><td>${x.attempts} attempts (threshold ${x.threshold})</td><td>first ${when(x.firstSeen)}, last ${when(x.lastSeen)}</td><td>${STATUS[x.status]}</td></tr>`;
    const table = (rows: Alert[]) => html`<table class="stack"><thead><tr><th scope="col">Person (pseudonym)</th><th scope="col">Category</th><th scope="col">Window</th><th scope="col">Blocked attempts</th><th scope="col">Attempts seen</th><th scope="col">Status</th></tr></thead>
<tbody>${rows.map(row)}</tbody></table>`;
    return frame(deps, c, 'Alerts', html`<p>An alert means one person (shown as a pseudonym, never a name) had repeated blocked attempts to reach a serious category within an hour or a day. It says nothing about why: a mistyped address, a link in an e-mail or a shared computer look the same. ${c.get('session')!.role === 'director' ? 'Open an alert to ask for an investigation (the usual approval follows) or to dismiss it with a reason.' : 'Directors decide what to do with an alert.'}</p>
<p class="hint">Watched now: ${a.enabled ? `${a.categories.map((x) => categoryLabel(deps.config, x)).join(', ')}; ${[a.perHour !== null ? `${a.perHour} attempts in an hour` : '', a.perDay !== null ? `${a.perDay} in a day` : ''].filter(Boolean).join(' or ')}` : 'alerts are off (policy.alerts.enabled)'}${Object.keys(a.groups).length ? '; some groups have their own settings' : ''}. Every look at this page is in the audit log.</p>
<h2>Open (<span id="open-alerts">${open.length}</span>)</h2>${open.length ? table(open) : html`<p>No open alerts.</p>`}
${done.length ? html`<h2>Acted on</h2>${table(done)}` : ''}`);
  });

  t.add({ method: 'GET', path: '/api/alerts', who: VIEWERS, audit: 'alert.list' }, async (c) => {
    const status = c.req.query('status');
    if (status !== undefined && !['open', 'investigation', 'dismissed'].includes(status)) throw new HttpError(400, 'status: expected open, investigation or dismissed');
    const list = await deps.alerts.list({ status: status as Alert['status'] | undefined });
    return c.json({ alerts: list.map((a) => asJson(deps, a)), open: await deps.alerts.openCount() });
  });

  t.add({ method: 'GET', path: '/alerts/:id', who: VIEWERS, audit: 'alert.view' }, async (c) => {
    const a = await loadAlert(deps, c);
    const s = c.get('session')!;
    const label = categoryLabel(deps.config, a.category);
    const iso = (t: number) => new Date(t).toISOString().slice(0, 16) + 'Z';
    const actions = a.status !== 'open'
      ? html`<p>${STATUS[a.status]} ${when(a.actedAt)}.${a.requestId ? html` <a href="/investigations">Investigations</a>` : ''}${a.status === 'dismissed' ? html` Reason: ${a.reason}` : ''}</p>`
      : s.role !== 'director' ? html`<p>Open. A director decides what to do with it.</p>` : html`
<h2>Ask for an investigation</h2>
<p>The request carries this pseudonym; the person is named only once the investigation is approved${deps.config.console.fourEyes ? ' by a second director or the DPO' : ' (without a second approver, at once)'}. State the allegation: an alert alone is not one.</p>
<form method="post" action="/alerts/${a.id}/investigate">${csrfField(s.csrf)}
<label>Allegation <textarea name="allegation" required maxlength="5000">Repeated blocked attempts to reach ${label} (alert ${a.id.slice(0, 8)}).</textarea></label>
<label>From <input name="from" value="${iso(a.from)}" required></label><label>To <input name="to" value="${iso(a.to)}" required></label>
<label>Expires in (minutes) <input name="expires_in_minutes" value="${DEFAULT_EXPIRY_MINUTES}" required></label>
<button type="submit">Ask for an investigation</button></form>
<h2>Dismiss</h2>
<form method="post" action="/alerts/${a.id}/dismiss">${csrfField(s.csrf)}
<label>Reason (recorded in the audit log) <input name="reason" required maxlength="2000"></label>
<button type="submit" class="danger">Dismiss the alert</button></form>`;
    return frame(deps, c, 'Alert', html`<dl class="summary">
<div><dt>Person (pseudonym)</dt><dd><code id="alert-pseudonym">${a.pseudonym}</code></dd></div>
<div><dt>Category</dt><dd>${label}</dd></div>
<div><dt>Blocked attempts</dt><dd>${a.attempts} <small>(threshold ${a.threshold})</small></dd></div>
<div><dt>Window</dt><dd>${periodWords(a)}</dd></div>
<div><dt>First and last attempt</dt><dd>${when(a.firstSeen)} – ${when(a.lastSeen)}</dd></div>
<div><dt>Status</dt><dd>${STATUS[a.status]}</dd></div></dl>
<p class="hint">The alert does not say which sites, from which computer, or who this is.</p>
${actions}<p><a href="/alerts">All alerts</a></p>`);
  });

  t.add({ method: 'POST', path: '/alerts/:id/investigate', who: ['director'], audit: 'alert.investigate' }, async (c) => {
    const r = await investigate(deps, c);
    return c.redirect(r.status === 'approved' ? `/investigations/${r.investigation.id}` : '/investigations', 303);
  });
  t.add({ method: 'POST', path: '/api/alerts/:id/investigation', who: ['director'], audit: 'alert.investigate' }, async (c) => {
    const r = await investigate(deps, c);
    return c.json({ investigation_id: r.investigation.id, status: r.status }, 201);
  });
  t.add({ method: 'POST', path: '/alerts/:id/dismiss', who: ['director'], audit: 'alert.dismiss' }, async (c) => {
    await dismiss(deps, c);
    return frame(deps, c, 'Alert dismissed', html`${message('ok', 'The alert was dismissed; the reason is in the audit log.')}<p><a href="/alerts">All alerts</a></p>`);
  });
  t.add({ method: 'POST', path: '/api/alerts/:id/dismiss', who: ['director'], audit: 'alert.dismiss' }, async (c) => {
    await dismiss(deps, c);
    return c.json({ id: c.req.param('id'), status: 'dismissed' });
  });
}
