import { html } from 'hono/html';
import type { AuthRequest } from '../../core/authorisation/model.ts';
import type { ConsoleDeps } from '../deps.ts';
import { frame, type Ctx, type RouteTable } from '../access.ts';
import { when } from '../views/layout.ts';
import { recentVisits, selfServiceSections } from './self-service.ts';

// What every signed-in person sees about themselves: the requests they made (from the console, or
// from a block page under their pseudonym) with their outcome, and their acceptance history.

async function mine(deps: ConsoleDeps, c: Ctx): Promise<{ requests: AuthRequest[]; acceptances: Array<{ ts: number; version: string }> }> {
  const s = c.get('session')!;
  const pseudonym = deps.pseudonyms.user(c.get('user')!.username);
  const [byId, byPseudonym, acceptances] = await Promise.all([
    deps.authz.list({ requester: s.userId }),
    deps.authz.list({ requester: pseudonym }),
    deps.store.rows<{ t: number | string; version: string }>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, version FROM ${deps.store.database}.aup_acceptances WHERE user_pseudonym = {p:String} ORDER BY ts DESC LIMIT 200`, { p: pseudonym }),
  ]);
  // delegated investigation access is the director's business, not a request the holder made
  const requests = [...byId, ...byPseudonym].filter((r) => r.subject !== 'investigation-access').sort((a, b) => b.requestedAt - a.requestedAt);
  return { requests, acceptances: acceptances.map((a) => ({ ts: Number(a.t), version: a.version })) };
}

export function staffRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'GET', path: '/my', who: 'signed-in' }, async (c) => {
    const { requests, acceptances } = await mine(deps, c);
    const visits = await recentVisits(deps, c);
    return frame(deps, c, 'My page', html`<h2>My requests and reports</h2><div class="scroll"><table><thead><tr><th>Request</th><th>About</th><th>My reason</th><th>When</th><th>Outcome</th></tr></thead><tbody>
${requests.map((r) => html`<tr><td>${r.subject}</td><td>${r.target}</td><td>${r.reason}</td><td>${when(r.requestedAt)}</td>
<td>${deps.authz.statusOf(r)}${r.refusal ? html`: ${r.refusal.reason}` : ''}${r.approval?.expiresAt ? html` (until ${when(r.approval.expiresAt)})` : ''}</td></tr>`)}
</tbody></table></div>${requests.length === 0 ? html`<p>You have made no requests.</p>` : ''}
${selfServiceSections(c.get('session')!.csrf, visits, c.req.query('sent'))}
<h2>Acceptable-use statement</h2>${acceptances.length === 0 ? html`<p>No acceptance recorded.</p>` : html`<ul>${acceptances.map((a) => html`<li>version ${a.version} accepted ${when(a.ts)}</li>`)}</ul>`}`);
  });

  t.add({ method: 'GET', path: '/api/my/requests', who: 'signed-in' }, async (c) => {
    const { requests, acceptances } = await mine(deps, c);
    return c.json({
      requests: requests.map((r) => ({ id: r.id, subject: r.subject, target: r.target, reason: r.reason, requested_at: new Date(r.requestedAt).toISOString(), status: deps.authz.statusOf(r), refusal_reason: r.refusal?.reason ?? null })),
      acceptances: acceptances.map((a) => ({ version: a.version, ts: new Date(a.ts).toISOString() })),
    });
  });
}
