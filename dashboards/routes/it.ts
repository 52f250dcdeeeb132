import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { html } from 'hono/html';
import { statusAt } from '../../core/authorisation/model.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, HttpError, str, type Ctx, type RouteTable } from '../access.ts';
import { listReports, readReport, reportMeta, UUID_RE } from '../reports.ts';
import { requireReauth } from '../security/reauth.ts';
import { csrfField, message, when } from '../views/layout.ts';
import { reportBody, reportDownload } from '../views/report.ts';
import { investigationOf } from '../investigation-reports.ts';
import { mayView } from './investigations.ts';

// What IT uses (directors too): the report list (metadata only), asking a director for access,
// reading a report while a grant lasts, the policy tester and list health.

/** Directors read every report; anyone else needs an approved, unexpired, unrevoked grant on it. */
async function mayRead(deps: ConsoleDeps, c: Ctx, id: string): Promise<void> {
  const s = c.get('session')!;
  const m = await reportMeta(deps, id);
  if (m?.kind === 'investigation') {
    // an investigation report: only whoever may see that investigation now, whatever their role
    const r = await readReport(deps, id);
    const inv = r ? investigationOf(r) : '';
    if (!UUID_RE.test(inv)) throw new HttpError(403, 'this report belongs to no investigation you may see');
    await mayView(deps, c, inv);
    return;
  }
  if (s.role === 'director') return;
  // the same answer for a report that does not exist, so ids cannot be probed
  if (!UUID_RE.test(id) || !(await deps.authz.hasGrant(s.userId, 'report-access', id))) {
    throw new HttpError(403, 'you need a director\'s approval to read this report (request access from the report list)');
  }
}

export function itRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'GET', path: '/reports', who: ['it', 'director'], audit: 'report.list' }, async (c) => {
    const s = c.get('session')!;
    // investigation reports are listed on their investigation's page, for those who may see it
    const reports = (await listReports(deps)).filter((r) => r.kind !== 'investigation');
    const mine = s.role === 'it' ? await deps.authz.list({ subject: 'report-access', requester: s.userId }) : [];
    const now = deps.now();
    const state = (id: string) => {
      const r = mine.filter((m) => m.target === id)[0];
      if (!r) return html``;
      const st = statusAt(r, now);
      return html`${st}${st === 'approved' ? html` until ${when(r.approval?.expiresAt)}` : ''}${st === 'refused' ? html`: ${r.refusal?.reason ?? ''}` : ''}`;
    };
    const notice = c.req.query('requested') ? message('ok', 'Your request was sent to the directors.') : '';
    return frame(deps, c, 'Reports', html`${notice}<table><thead><tr><th>Kind</th><th>Period</th><th>Created</th><th>Rows</th><th>Access</th></tr></thead><tbody>
${reports.map((r) => html`<tr><td>${r.kind}</td><td>${when(r.periodFrom)} – ${when(r.periodTo)}</td><td>${when(r.createdAt)}</td>
<td>${Object.entries(r.rowCounts).map(([k, v]) => `${k}: ${v}`).join(', ')}</td>
<td>${s.role === 'director' ? html`<a href="/reports/${r.id}">Open</a>` : html`${state(r.id)} <a href="/reports/${r.id}">Open</a>
<form method="post" action="/reports/${r.id}/access-requests">${csrfField(s.csrf)}<label>Reason <input name="reason" required maxlength="2000"></label><button type="submit">Request access</button></form>`}</td></tr>`)}
</tbody></table>${reports.length === 0 ? html`<p>No reports yet.</p>` : ''}`);
  });

  t.add({ method: 'GET', path: '/api/reports', who: ['it', 'director'], audit: 'report.list' }, async (c) => {
    const reports = (await listReports(deps)).filter((r) => r.kind !== 'investigation');
    return c.json(reports.map((r) => ({
      id: r.id, kind: r.kind, period_from: new Date(r.periodFrom).toISOString(), period_to: new Date(r.periodTo).toISOString(),
      created_at: new Date(r.createdAt).toISOString(), row_counts: r.rowCounts,
    })));
  });

  t.add({ method: 'GET', path: '/reports/:id', who: ['it', 'director'], audit: 'report.view' }, async (c) => {
    const id = c.req.param('id')!;
    await mayRead(deps, c, id);
    const report = await readReport(deps, id);
    if (!report) throw new HttpError(404, `no report ${id}`);
    const s = c.get('session')!;
    return frame(deps, c, `Report: ${report.meta.kind}`, reportBody(report, { exportAction: `/reports/${id}/export`, csrf: s.csrf }));
  });

  t.add({ method: 'GET', path: '/api/reports/:id', who: ['it', 'director'], audit: 'report.view' }, async (c) => {
    const id = c.req.param('id')!;
    await mayRead(deps, c, id);
    const report = await readReport(deps, id);
    if (!report) throw new HttpError(404, `no report ${id}`);
    return c.json({
      id, kind: report.meta.kind, period_from: new Date(report.meta.periodFrom).toISOString(), period_to: new Date(report.meta.periodTo).toISOString(),
      html: report.html, json: report.json,
    });
  });

  t.add({ method: 'POST', path: '/reports/:id/export', who: ['it', 'director'], audit: 'report.export' }, async (c) => {
    const id = c.req.param('id')!;
    await mayRead(deps, c, id);
    await requireReauth(deps, c);
    const report = await readReport(deps, id);
    if (!report) throw new HttpError(404, `no report ${id}`);
    const d = reportDownload(report, str(c.get('body'), 'format', { max: 100 }));
    if ('error' in d) throw new HttpError(400, d.error);
    return c.body(d.body, 200, { 'content-type': d.type, 'content-disposition': `attachment; filename="${d.name}"`, 'cache-control': 'no-store' });
  });

  const requestAccess = async (c: Ctx) => {
    const id = c.req.param('id')!;
    const reason = str(c.get('body'), 'reason', { required: true, max: 2000 });
    if (!(await reportMeta(deps, id))) throw new HttpError(404, `no report ${id}`);
    const req = await deps.authz.request({ subject: 'report-access', target: id, requester: c.get('session')!.userId, reason });
    return req.id;
  };
  t.add({ method: 'POST', path: '/reports/:id/access-requests', who: ['it'], audit: 'report.request-access' }, async (c) => {
    await requestAccess(c);
    return c.redirect('/reports?requested=1', 303);
  });
  t.add({ method: 'POST', path: '/api/reports/:id/access-requests', who: ['it'], audit: 'report.request-access' }, async (c) => c.json({ id: await requestAccess(c) }, 201));

  // Testing by a person's name is looking at that person's policy: audited, target their user_id.
  t.add({ method: 'GET', path: '/policy-test', who: ['it', 'director'], audit: 'policy.test' }, async (c) => {
    const user = c.req.query('user') ?? '';
    const url = c.req.query('url') ?? '';
    const at = c.req.query('at') ?? '';
    let result: ReturnType<typeof html> | string = '';
    let target = '';
    if (user && url) {
      if (!deps.policyTester) throw new HttpError(503, 'the policy engine is not loaded in this console');
      const when2 = at ? new Date(at) : new Date(deps.now());
      if (Number.isNaN(when2.getTime())) throw new HttpError(400, 'at: expected an ISO time such as 2026-03-02T10:30');
      const { decision: d, userId } = await deps.policyTester({ user, url, at: when2 });
      target = userId;
      result = html`<table id="decision"><tr><th>Action</th><td>${d.action}</td></tr><tr><th>Category</th><td>${d.category || '—'}</td></tr>
<tr><th>Rule</th><td>${d.rule}</td></tr><tr><th>Reason</th><td>${d.reason}</td></tr></table>`;
    }
    const res = await frame(deps, c, 'Why was this blocked?', html`<form method="get" action="/policy-test">
<label>User name <input name="user" value="${user}" required></label><label>URL <input name="url" value="${url}" required></label>
<label>At (ISO time, optional) <input name="at" value="${at}"></label><button type="submit">Test</button></form>
<p class="hint">Work exceptions a director approved for the person are not applied here (directors see them under Active grants). Each test is recorded in the audit log.</p>${result}`);
    if (target) res.headers.set('x-fairwatch-target', target);
    return res;
  });

  t.add({ method: 'GET', path: '/lists', who: ['it', 'director'] }, async (c) => {
    const rows: Array<{ category: string; domains: number; urls: number; changed: string }> = [];
    let problem = '';
    try {
      for (const cat of readdirSync(deps.blocklistsDir).sort()) {
        const dir = join(deps.blocklistsDir, cat);
        if (!statSync(dir).isDirectory()) continue;
        const count = (f: string) => {
          try {
            return readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')).length;
          } catch {
            return 0;
          }
        };
        rows.push({ category: cat, domains: count('domains'), urls: count('urls'), changed: statSync(dir).mtime.toISOString().slice(0, 16) });
      }
    } catch (e) {
      problem = `${deps.blocklistsDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    return frame(deps, c, 'List health', html`${problem ? message('error', problem) : ''}<table><thead><tr><th>Category</th><th>Domains</th><th>URLs</th><th>Changed</th></tr></thead>
<tbody>${rows.map((r) => html`<tr><td>${r.category}</td><td>${r.domains}</td><td>${r.urls}</td><td>${r.changed}</td></tr>`)}</tbody></table>`);
  });
}
