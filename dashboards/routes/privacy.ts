import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthRequest } from '../../core/authorisation/model.ts';
import { listDisclosures, recordDisclosure } from '../../core/privacy/disclosures.ts';
import { collectSubjectAccess, writeSubjectAccess } from '../../core/privacy/dsar.ts';
import { LegalHolds, type Hold } from '../../core/privacy/holds.ts';
import { buildDpia } from '../../core/privacy/dpia.ts';
import { tarGzDirectory } from '../../core/evidence/tarball.ts';
import type { ConsoleDeps } from '../deps.ts';
import { html } from 'hono/html';
import { frame, HttpError, str, type Ctx, type RouteTable } from '../access.ts';
import { nameResolver } from '../people.ts';
import { csrfField, message } from '../views/layout.ts';
import { UUID_RE } from '../reports.ts';
import { requireReauth } from '../security/reauth.ts';

// The privacy duties in the console. A subject access request is made by a director for
// a person in the user directory and always needs a second director or the DPO to approve it (in
// the inbox, with an expiry); the director who made it then downloads the export once approved.
// Legal holds and the disclosure register are for directors (the DPO may read them). Every route is
// audited by its rule.

async function requestSubjectAccess(deps: ConsoleDeps, c: Ctx): Promise<AuthRequest> {
  const s = c.get('session')!;
  const b = c.get('body');
  const username = str(b, 'username', { required: true, max: 200 });
  const reason = str(b, 'reason', { required: true, max: 2000 });
  if (!reason.trim()) throw new HttpError(400, 'reason: required (e.g. the request reference and date received)');
  const user = await deps.users.get(username).catch(() => null);
  if (!user) throw new HttpError(400, 'username: no such user in the user directory (for anyone else use `fairwatch dsar export` on the server)');
  const req = await deps.authz.request({ subject: 'subject-access', target: user.userId, requester: s.userId, reason, details: { subject_user_id: user.userId } });
  c.header('x-fairwatch-target', req.id);
  return req;
}

async function exportSubjectAccess(deps: ConsoleDeps, c: Ctx): Promise<Response> {
  const s = c.get('session')!;
  const id = c.req.param('id')!;
  const req = UUID_RE.test(id) ? await deps.authz.get(id) : null;
  if (!req || req.subject !== 'subject-access') throw new HttpError(404, `no subject access request ${id}`);
  if (req.requester !== s.userId) throw new HttpError(403, 'only the director who made this subject access request may download it');
  const status = deps.authz.statusOf(req);
  if (status !== 'approved') throw new HttpError(403, `this subject access request is ${status === 'pending' ? 'waiting for a second director or the DPO' : status}`);
  await requireReauth(deps, c);
  const user = await deps.users.getById(String(req.details.subject_user_id));
  if (!user) throw new HttpError(404, 'the person is no longer in the user directory');
  const pseudonym = deps.pseudonyms.user(user.username);
  const data = await collectSubjectAccess(deps.store, deps.redis, { username: user.username, pseudonym, inDirectory: true, group: user.group });
  const dir = mkdtempSync(join(tmpdir(), 'fairwatch-sar-'));
  try {
    const out = join(dir, 'export');
    const files = writeSubjectAccess(out, data, deps.config.organisation);
    const tgz = await tarGzDirectory(out);
    await recordDisclosure(deps.store, {
      kind: 'subject-access', holdId: '', recipient: 'the data subject', reference: req.reason, legalBasis: 'UK GDPR article 15 (right of access)',
      subjects: [pseudonym], from: new Date(data.events[0]?.t ?? deps.now()).toISOString(), to: new Date(data.events.at(-1)?.t ?? deps.now()).toISOString(),
      rows: data.events.length, manifestSha256: files.find((f) => f.name === 'index.html')!.sha256, actor: s.userId,
    });
    return c.body(new Uint8Array(tgz), 200, {
      'content-type': 'application/gzip', 'content-disposition': `attachment; filename="subject-access-${req.id}.tar.gz"`, 'cache-control': 'no-store',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseTime(v: string, name: string): Date {
  const t = Date.parse(v);
  if (!v || Number.isNaN(t)) throw new HttpError(400, `${name}: expected an ISO date or time such as 2026-03-02T09:00Z`);
  return new Date(t);
}


/** Opens a hold from the API's JSON or the page's form (usernames comma-separated there). */
async function openHold(deps: ConsoleDeps, holds: LegalHolds, c: Ctx): Promise<Hold> {
  const s = c.get('session')!;
  const b = c.get('body');
  const people = Array.isArray(b.usernames) ? b.usernames.map(String) : String(b.usernames ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  if (!people.length) throw new HttpError(400, 'usernames: at least one person');
  const subjects = [];
  for (const u of people.slice(0, 100)) {
    const user = await deps.users.get(u).catch(() => null);
    if (!user) throw new HttpError(400, `usernames: ${u} is not in the user directory`);
    subjects.push(deps.pseudonyms.user(user.username));
  }
  const h = await holds.open({
    requestingBody: str(b, 'requesting_body', { required: true, max: 300 }), reference: str(b, 'reference', { required: true, max: 300 }),
    legalBasis: str(b, 'legal_basis', { required: true, max: 1000 }), subjects,
    from: parseTime(str(b, 'from', { required: true, max: 40 }), 'from'), to: parseTime(str(b, 'to', { required: true, max: 40 }), 'to'),
    actor: s.userId, note: str(b, 'note', { max: 2000 }),
  });
  c.header('x-fairwatch-target', h.id);
  return h;
}

const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');

export function privacyRoutes(deps: ConsoleDeps, t: RouteTable): void {
  const holds = new LegalHolds(deps.store);

  t.add({ method: 'POST', path: '/api/subject-access', who: ['director'], audit: 'dsar.request' }, async (c) => {
    const req = await requestSubjectAccess(deps, c);
    return c.json({ id: req.id, status: deps.authz.statusOf(req) }, 201);
  });
  t.add({ method: 'POST', path: '/api/subject-access/:id/export', who: ['director'], audit: 'dsar.export' }, (c) => exportSubjectAccess(deps, c));

  t.add({ method: 'GET', path: '/api/legal-holds', who: ['director', 'dpo'], audit: 'hold.list' }, async (c) => c.json(await holds.list()));
  t.add({ method: 'POST', path: '/api/legal-holds', who: ['director'], audit: 'hold.open' }, async (c) => c.json(await openHold(deps, holds, c), 201));
  t.add({ method: 'POST', path: '/api/legal-holds/:id/release', who: ['director'], audit: 'hold.release' }, async (c) => {
    c.header('x-fairwatch-target', c.req.param('id')!);
    return c.json(await holds.release(c.req.param('id')!, c.get('session')!.userId, str(c.get('body'), 'reason', { required: true, max: 2000 })));
  });
  t.add({ method: 'GET', path: '/api/disclosures', who: ['director', 'dpo'], audit: 'disclosure.list' }, async (c) => c.json(await listDisclosures(deps.store)));

  // The same as pages: directors open and release holds, the DPO reads. People under a hold are
  // shown as a count (the hold names pseudonyms); the register says who received what, and why.
  t.add({ method: 'GET', path: '/legal-holds', who: ['director', 'dpo'], audit: 'hold.list' }, async (c) => {
    const s = c.get('session')!;
    const name = nameResolver(deps);
    const list = await holds.list();
    const director = s.role === 'director';
    const done = c.req.query('done');
    const rows = await Promise.all(list.map(async (h) => html`<tr id="hold-${h.id}"><td>${h.status}</td><td>${h.requestingBody}</td><td>${h.reference}</td><td class="reason">${h.legalBasis}</td>
<td>${h.subjects.length} ${h.subjects.length === 1 ? 'person' : 'people'}, ${day(h.from)} – ${day(h.to)}</td><td>${h.heldEvents} events, ${h.heldReports} reports</td>
<td>${day(h.openedAt)} by ${await name(h.openedBy)}${h.releasedAt ? html`; released ${day(h.releasedAt)} by ${await name(h.releasedBy ?? '')}: ${h.releaseNote}` : ''}</td>
<td>${director && h.status === 'open' ? html`<form method="post" action="/legal-holds/${h.id}/release">${csrfField(s.csrf)}<label>Reason <input name="reason" required maxlength="2000"></label><button type="submit">Release</button></form>` : ''}</td></tr>`));
    const form = director ? html`<h2>Record a request</h2><form method="post" action="/legal-holds">${csrfField(s.csrf)}
<label>Requesting body <input name="requesting_body" required maxlength="300"></label>
<label>Their reference <input name="reference" required maxlength="300"></label>
<label>Legal basis <input name="legal_basis" required maxlength="1000" placeholder="DPA 2018 Sch 2 para 2"></label>
<label>People (user names, comma-separated) <input name="usernames" required></label>
<label>From (date, UTC) <input name="from" type="date" required></label>
<label>To (date, UTC, not included) <input name="to" type="date" required></label>
<label>Note <input name="note" maxlength="2000"></label>
<button type="submit">Open the hold</button></form>
<p class="hint">The matching events and reports are kept past retention until the hold is released. The evidence pack: <code>fairwatch hold export ID --out DIR</code> on the server.</p>` : '';
    return frame(deps, c, 'Legal holds', html`${done ? message('ok', `Hold ${done}.`) : ''}${list.length === 0 ? html`<p>No legal holds.</p>` : html`<table class="stack"><thead><tr><th>Status</th><th>Requesting body</th><th>Reference</th><th>Legal basis</th><th>Scope</th><th>Kept</th><th>Record</th><th></th></tr></thead><tbody>${rows}</tbody></table>`}${form}`);
  });
  t.add({ method: 'POST', path: '/legal-holds', who: ['director'], audit: 'hold.open' }, async (c) => {
    await openHold(deps, holds, c);
    return c.redirect('/legal-holds?done=opened', 303);
  });
  t.add({ method: 'POST', path: '/legal-holds/:id/release', who: ['director'], audit: 'hold.release' }, async (c) => {
    c.header('x-fairwatch-target', c.req.param('id')!);
    await holds.release(c.req.param('id')!, c.get('session')!.userId, str(c.get('body'), 'reason', { required: true, max: 2000 }));
    return c.redirect('/legal-holds?done=released', 303);
  });
  // The DPIA draft from the configuration this console runs with (as `fairwatch privacy dpia`)
  const dpia = () => buildDpia({ config: deps.config, runtime: deps.runtime ?? { clickhouseUrl: null, redisUrl: null, configPath: null }, generatedAt: new Date(deps.now()) });
  t.add({ method: 'GET', path: '/privacy/dpia', who: ['director', 'dpo'], audit: 'dpia.view' }, async (c) => frame(deps, c, 'DPIA draft', html`<p>A draft data protection impact assessment built from the configuration fairwatch runs with now, under the ICO template's headings. What only the organisation knows is marked <strong>[TO COMPLETE …]</strong>. <a href="/privacy/dpia.md">Download it as Markdown</a> to edit and keep with your records.</p>
<pre class="document">${dpia()}</pre>`));
  t.add({ method: 'GET', path: '/privacy/dpia.md', who: ['director', 'dpo'], audit: 'dpia.view' }, async (c) => c.body(dpia(), 200, {
    'content-type': 'text/markdown; charset=utf-8', 'content-disposition': 'attachment; filename="fairwatch-dpia-draft.md"', 'cache-control': 'no-store',
  }));
  t.add({ method: 'GET', path: '/disclosures', who: ['director', 'dpo'], audit: 'disclosure.list' }, async (c) => {
    const name = nameResolver(deps);
    const list = await listDisclosures(deps.store);
    const rows = await Promise.all(list.map(async (d) => html`<tr><td>${day(d.at)}</td><td>${d.kind === 'legal-hold' ? 'legal hold' : 'subject access'}</td><td>${d.recipient}</td><td>${d.reference}</td><td class="reason">${d.legalBasis}</td>
<td>${d.subjects.length} ${d.subjects.length === 1 ? 'person' : 'people'}, ${day(d.from)} – ${day(d.to)}</td><td>${d.rows}</td><td>${await name(d.actor)}</td><td><code>${d.manifestSha256.slice(0, 16)}</code></td></tr>`));
    return frame(deps, c, 'Disclosure register', list.length === 0 ? html`<p>Nothing disclosed.</p>` : html`<table class="stack"><thead><tr><th>When</th><th>Kind</th><th>To</th><th>Reference</th><th>Legal basis</th><th>Scope</th><th>Rows</th><th>By</th><th>Manifest SHA-256</th></tr></thead><tbody>${rows}</tbody></table>`);
  });
}
