import { html } from 'hono/html';
import { expiryProblem, type AuthRequest } from '../../core/authorisation/model.ts';
import type { ConsoleDeps } from '../deps.ts';
import { canDecide, deciderOf, frame, HttpError, int, isOwnRequest, roleDecides, str, type Ctx, type Decider, type RouteTable } from '../access.ts';
import { nameResolver } from '../people.ts';
import { subjectOf } from './investigations.ts';
import { requireReauth } from '../security/reauth.ts';
import { csrfField, message, when } from '../views/layout.ts';

// What directors use (the DPO too, as second approver of investigations): the inbox of pending
// requests, approve with an expiry or refuse with a reason, active grants and revocation, the audit log.

const LABEL: Record<string, string> = {
  'report-access': 'Access to a report',
  investigation: 'Investigation (second approval)',
  'investigation-access': 'Access to an investigation',
  'work-exception': 'Work exception',
  'self-report': 'Accidental visit reported',
  'subject-access': 'Subject access request (second approval)',
  concern: 'Concern reported',
};

async function loadRequest(deps: ConsoleDeps, c: Ctx): Promise<AuthRequest> {
  const req = await deps.authz.get(c.req.param('id')!);
  if (!req) throw new HttpError(404, `no request ${c.req.param('id')}`);
  return req;
}

const decider = (deps: ConsoleDeps, c: Ctx): Decider => deciderOf(deps, c.get('session')!, c.get('user')!);

/** Why `d` may not decide `req`, in words for the refusal. */
function refusalFor(d: Decider, req: AuthRequest): string {
  if (!isOwnRequest(d, req.requester)) return 'only a director decides this request';
  return req.subject === 'investigation' || req.subject === 'subject-access'
    ? `a second director or the DPO must approve ${req.subject === 'investigation' ? 'an investigation you opened' : 'a subject access request you made'}`
    : 'this is your own request: another director must decide it';
}

async function approve(deps: ConsoleDeps, c: Ctx): Promise<AuthRequest> {
  const s = c.get('session')!;
  const d = decider(deps, c);
  const req = await loadRequest(deps, c);
  if (!canDecide(d, req.subject, req.requester)) throw new HttpError(403, refusalFor(d, req));
  await requireReauth(deps, c);
  const body = c.get('body');
  let expiresAt: number | null = null;
  if (req.subject === 'investigation') {
    // the opener chose the expiry; it runs from the second approval
    expiresAt = deps.now() + Number(req.details.expires_in_minutes ?? 0) * 60_000;
  } else if (req.subject !== 'self-report' && req.subject !== 'concern') {
    const minutes = int(body, 'expires_in_minutes');
    const problem = expiryProblem(minutes);
    if (problem) throw new HttpError(400, problem);
    expiresAt = deps.now() + minutes * 60_000;
  }
  const done = await deps.authz.decide(req.id, 'approve', s.userId, { expiresAt, reason: str(body, 'note', { max: 2000 }) });
  if (req.subject === 'work-exception') {
    await deps.exceptions.grant({ requestId: req.id, userPseudonym: req.requester, target: req.target, expiresAt: expiresAt!, note: str(body, 'note', { max: 2000 }) });
  }
  return done;
}

async function refuse(deps: ConsoleDeps, c: Ctx): Promise<AuthRequest> {
  const s = c.get('session')!;
  const d = decider(deps, c);
  const req = await loadRequest(deps, c);
  if (!canDecide(d, req.subject, req.requester)) throw new HttpError(403, refusalFor(d, req));
  return deps.authz.decide(req.id, 'refuse', s.userId, { reason: str(c.get('body'), 'reason', { required: true, max: 2000 }) });
}

async function revoke(deps: ConsoleDeps, c: Ctx): Promise<AuthRequest> {
  const s = c.get('session')!;
  const req = await loadRequest(deps, c);
  // directors revoke any grant; the opener of an investigation also ends access they delegated
  if (s.role !== 'director') throw new HttpError(403, 'only a director revokes grants');
  const done = await deps.authz.decide(req.id, 'revoke', s.userId, { reason: str(c.get('body'), 'reason', { max: 2000 }) });
  if (req.subject === 'work-exception') await deps.exceptions.revoke({ requestId: req.id, userPseudonym: req.requester });
  return done;
}

/** Staff pseudonym → user name of each active director: a block-page request by a director is shown as theirs. */
async function directorPseudonyms(deps: ConsoleDeps): Promise<Map<string, string>> {
  const users = await deps.users.list();
  return new Map(users.filter((u) => u.role === 'director' && !u.disabled).map((u) => [deps.pseudonyms.user(u.username), u.username]));
}

function json(deps: ConsoleDeps, r: AuthRequest) {
  return {
    id: r.id, subject: r.subject, target: r.target, status: deps.authz.statusOf(r),
    expires_at: r.approval?.expiresAt ? new Date(r.approval.expiresAt).toISOString() : null,
  };
}

export function directorRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'GET', path: '/inbox', who: ['director', 'dpo'] }, async (c) => {
    const s = c.get('session')!;
    const d = decider(deps, c);
    const name = nameResolver(deps);
    const all = await deps.authz.list({ status: 'pending' });
    // your own requests are listed (so you can see they wait for someone else), without the forms
    const pending = all.filter((r) => canDecide(d, r.subject, r.requester) || (isOwnRequest(d, r.requester) && roleDecides(d.role, r.subject)));
    const directors = await directorPseudonyms(deps);
    const from = async (r: AuthRequest) => {
      if (isOwnRequest(d, r.requester)) return html`<strong class="own">you (your own request)</strong>`;
      const director = directors.get(r.requester);
      return director ? html`${director} <strong class="own">(a director, for themselves)</strong>` : html`${await name(r.requester)}`;
    };
    const done = c.req.query('done');
    const rows = await Promise.all(pending.map(async (r) => html`<tr id="req-${r.id}"><td>${LABEL[r.subject] ?? r.subject}</td>
<td>${r.subject === 'investigation' ? html`Subject: ${await subjectOf(deps, r, name)}; ${when(Number(r.details.from))} – ${when(Number(r.details.to))}` : r.target}</td>
<td>${await from(r)}</td><td class="reason">${r.reason}</td><td>${when(r.requestedAt)}</td>
${isOwnRequest(d, r.requester) ? html`<td>Waiting for ${r.subject === 'investigation' ? 'a second director or the DPO' : 'another director'}: you cannot decide your own request.</td></tr>` : html`<td><form method="post" action="/requests/${r.id}/approve">${csrfField(s.csrf)}
${r.subject === 'investigation' || r.subject === 'self-report' || r.subject === 'concern' ? '' : html`<label>Expires in <select name="expires_in_minutes"><option value="60">1 hour</option><option value="480">8 hours</option><option value="1440" selected>1 day</option><option value="10080">7 days</option><option value="43200">30 days</option></select></label>`}
<label>Your password <input name="password" type="password" required></label><button type="submit">${r.subject === 'self-report' || r.subject === 'concern' ? 'Acknowledge' : 'Approve'}</button></form>
<form method="post" action="/requests/${r.id}/refuse">${csrfField(s.csrf)}<label>Reason <input name="reason" required maxlength="2000"></label><button type="submit">Refuse</button></form></td></tr>`}`));
    return frame(deps, c, 'Inbox', html`${done ? message('ok', `Request ${done}.`) : ''}${pending.length === 0 ? html`<p>Nothing waiting.</p>` : html`<table class="stack"><thead><tr><th>Request</th><th>About</th><th>From</th><th>Their reason</th><th>When</th><th>Decide</th></tr></thead><tbody>${rows}</tbody></table>`}`);
  });

  t.add({ method: 'POST', path: '/requests/:id/approve', who: ['director', 'dpo'], audit: 'request.approve' }, async (c) => {
    await approve(deps, c);
    return c.redirect('/inbox?done=approved', 303);
  });
  t.add({ method: 'POST', path: '/requests/:id/refuse', who: ['director', 'dpo'], audit: 'request.refuse' }, async (c) => {
    await refuse(deps, c);
    return c.redirect('/inbox?done=refused', 303);
  });
  t.add({ method: 'POST', path: '/requests/:id/revoke', who: ['director'], audit: 'request.revoke' }, async (c) => {
    await revoke(deps, c);
    return c.redirect('/grants?done=revoked', 303);
  });
  t.add({ method: 'POST', path: '/api/access-requests/:id/approve', who: ['director', 'dpo'], audit: 'request.approve' }, async (c) => c.json(json(deps, await approve(deps, c))));
  t.add({ method: 'POST', path: '/api/access-requests/:id/refuse', who: ['director', 'dpo'], audit: 'request.refuse' }, async (c) => c.json(json(deps, await refuse(deps, c))));
  t.add({ method: 'POST', path: '/api/access-requests/:id/revoke', who: ['director'], audit: 'request.revoke' }, async (c) => c.json(json(deps, await revoke(deps, c))));

  t.add({ method: 'GET', path: '/api/access-requests', who: ['director', 'dpo'] }, async (c) => {
    const d = decider(deps, c);
    const pending = (await deps.authz.list({ status: 'pending' })).filter((r) => canDecide(d, r.subject, r.requester));
    return c.json(pending.map((r) => ({ ...json(deps, r), reason: r.reason, requested_at: new Date(r.requestedAt).toISOString() })));
  });

  t.add({ method: 'GET', path: '/grants', who: ['director'] }, async (c) => {
    const s = c.get('session')!;
    const name = nameResolver(deps);
    const active = await deps.authz.list({ status: 'approved' });
    const rows = await Promise.all(active.map(async (r) => html`<tr id="grant-${r.id}"><td>${LABEL[r.subject] ?? r.subject}</td><td>${r.target}</td><td>${await name(r.requester)}</td>
<td>${await name(r.approval!.by)}</td><td>${when(r.approval!.expiresAt)}</td>
<td><form method="post" action="/requests/${r.id}/revoke">${csrfField(s.csrf)}<label>Reason <input name="reason" maxlength="2000"></label><button type="submit">Revoke</button></form></td></tr>`));
    return frame(deps, c, 'Active grants', html`${c.req.query('done') ? message('ok', 'Grant revoked.') : ''}${active.length === 0 ? html`<p>No active grants.</p>` : html`<table><thead><tr><th>Grant</th><th>On</th><th>Holder</th><th>Approved by</th><th>Expires</th><th></th></tr></thead><tbody>${rows}</tbody></table>`}`);
  });

  const auditRows = async (c: Ctx) => {
    const page = Math.max(0, Number(c.req.query('page') ?? 0) | 0);
    return { page, rows: await deps.audit.list(200, page * 200) };
  };
  t.add({ method: 'GET', path: '/audit', who: ['director', 'dpo'] }, async (c) => {
    const { page, rows } = await auditRows(c);
    const name = nameResolver(deps);
    const body = await Promise.all(rows.map(async (r) => html`<tr><td>${r.seq}</td><td>${when(r.tsMs)}</td><td>${await name(r.actor)}</td><td>${r.actorRole}</td><td>${r.action}</td><td>${r.target}</td><td>${r.outcome}</td><td>${r.reason}</td><td><code>${r.hash.slice(0, 12)}</code></td></tr>`));
    return frame(deps, c, 'Audit log', html`<p>Newest first. <code>fairwatch audit verify</code> checks the whole chain.</p><table><thead><tr><th>Seq</th><th>Time</th><th>Who</th><th>Role</th><th>Action</th><th>Target</th><th>Outcome</th><th>Reason</th><th>Hash</th></tr></thead><tbody>${body}</tbody></table>
${rows.length === 200 ? html`<p><a href="/audit?page=${page + 1}">Older</a></p>` : ''}`);
  });
  t.add({ method: 'GET', path: '/api/audit-log', who: ['director', 'dpo'] }, async (c) => {
    const { rows } = await auditRows(c);
    return c.json(rows.map((r) => ({ seq: r.seq, ts: new Date(r.tsMs).toISOString(), actor: r.actor, actor_role: r.actorRole, action: r.action, target: r.target, reason: r.reason, outcome: r.outcome, prev_hash: r.prevHash, hash: r.hash })));
  });
}
