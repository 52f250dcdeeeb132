import { html } from 'hono/html';
import type { ConsoleDeps } from '../deps.ts';
import { canDecide, deciderOf, frame, type Ctx, type RouteTable } from '../access.ts';
import { devicesWithoutCa, gatherHealth, type HealthItem } from '../health.ts';
import { headline, nextSpotCheck, trend, type Headline } from '../headline.ts';
import { when } from '../views/layout.ts';

// The console's home page per role: what waits for a decision, what is open, the latest audit's
// headline figures against the period before, the next spot check (directors, DPO); health and
// the same figures (IT). Counts and kinds only: nobody is named on it.

const KIND: Record<string, string> = {
  'report-access': 'Access to a report', investigation: 'Investigation (second approval)', 'investigation-access': 'Access to an investigation',
  'work-exception': 'Work exception', 'self-report': 'Accidental visit reported', concern: 'Concern reported',
};

async function overview(deps: ConsoleDeps, c: Ctx) {
  const s = c.get('session')!;
  const d = deciderOf(deps, s, c.get('user')!);
  const now = deps.now();
  const decides = s.role === 'director' || s.role === 'dpo';
  const pending = decides ? (await deps.authz.list({ status: 'pending' })).filter((r) => canDecide(d, r.subject, r.requester)) : [];
  const approved = s.role === 'director' ? await deps.authz.list({ status: 'approved' }) : [];
  const grants: Record<string, number> = {};
  for (const r of approved) if (r.subject !== 'investigation') grants[r.subject] = (grants[r.subject] ?? 0) + 1;
  const investigations = approved.filter((r) => r.subject === 'investigation');
  const mine = investigations.filter((r) => r.requester === s.userId);
  return {
    role: s.role,
    pending: pending.map((r) => ({ id: r.id, kind: r.subject, requested_at: r.requestedAt })),
    grants,
    investigations: decides && s.role === 'director' ? { open: investigations.length, yours: mine.map((r) => ({ id: r.id, expires_at: r.approval?.expiresAt ?? null })) } : null,
    headline: await headline(deps),
    nextSpotCheck: decides ? nextSpotCheck(deps) : null,
    openAlerts: decides ? await deps.alerts.openCount() : null,
    health: s.role === 'it' ? await gatherHealth(deps) : null,
    now,
  };
}

function figures(h: Headline) {
  const rows: Array<[string, number, number, string]> = [
    ['Requests', h.current.requests, h.previous.requests, ''],
    ['Blocked attempts', h.current.blocked, h.previous.blocked, ''],
    ['Downloaded', h.current.mbDown, h.previous.mbDown, ' MB'],
    ['Uploaded', h.current.mbUp, h.previous.mbUp, ' MB'],
    ['Active people', h.current.people, h.previous.people, ''],
  ];
  const n = (v: number) => v.toLocaleString('en-GB');
  return html`<section class="card wide" aria-labelledby="fig-h"><h2 id="fig-h">${h.reportId ? 'Latest audit' : 'Last seven days'}</h2>
<p class="hint">${when(h.from)} – ${when(h.to)}, against the ${h.reportId ? 'period' : 'seven days'} before.${h.reportId ? html` <a href="/reports/${h.reportId}">Open the report</a>` : ' No audit has run yet.'}</p>
<table class="figures"><thead><tr><th scope="col">Measure</th><th scope="col" class="n">This period</th><th scope="col" class="n">Previous</th><th scope="col" class="n">Change</th></tr></thead><tbody>
${rows.map(([label, now, before, unit]) => html`<tr><th scope="row">${label}</th><td class="n">${n(now)}${unit}</td><td class="n">${n(before)}${unit}</td><td class="n">${trend(now, before)}</td></tr>`)}
</tbody></table></section>`;
}

export function healthList(items: HealthItem[]) {
  return html`<ul class="health">${items.map((i) => html`<li class="lvl-${i.level}" id="health-${i.key}"><span class="badge">${i.level === 'ok' ? 'OK' : i.level === 'warn' ? 'Check' : i.level === 'bad' ? 'Problem' : 'Unknown'}</span> <strong>${i.label}</strong>: ${i.value}${i.action ? html`<br><span class="action">What to do: ${i.action}</span>` : ''}</li>`)}</ul>`;
}

export function overviewRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'GET', path: '/home', who: ['director', 'dpo', 'it'] }, async (c) => {
    const o = await overview(deps, c);
    const cards = [];
    if (o.role !== 'it') {
      cards.push(html`<section class="card" aria-labelledby="pend-h"><h2 id="pend-h">Waiting for your decision</h2>
<p class="big" id="pending-decisions">${o.pending.length}</p>
${o.pending.length ? html`<ul>${o.pending.slice(0, 5).map((p) => html`<li>${KIND[p.kind] ?? p.kind}, ${when(p.requested_at)}</li>`)}</ul>` : html`<p>Nothing waiting.</p>`}
<p><a href="/inbox">Open the inbox</a></p></section>`);
    }
    if (o.openAlerts !== null) {
      cards.push(html`<section class="card" aria-labelledby="alerts-h"><h2 id="alerts-h">Open alerts</h2>
<p class="big" id="overview-alerts">${o.openAlerts}</p><p class="hint">Repeated blocked attempts at serious categories, by pseudonym.</p>
<p><a href="/alerts">Open the alerts</a></p></section>`);
    }
    if (o.role === 'director') {
      const g = Object.entries(o.grants);
      cards.push(html`<section class="card" aria-labelledby="act-h"><h2 id="act-h">Active</h2>
<ul>${g.length ? g.map(([k, n]) => html`<li>${KIND[k] ?? k}: ${n}</li>`) : html`<li>No active grants</li>`}
<li>Open investigations: <span id="open-investigations">${o.investigations!.open}</span> (yours: ${o.investigations!.yours.length})</li></ul>
<p><a href="/grants">Active grants</a> · <a href="/investigations">Investigations</a></p></section>`);
    }
    if (o.nextSpotCheck !== null || o.role !== 'it') {
      cards.push(html`<section class="card" aria-labelledby="spot-h"><h2 id="spot-h">Next spot check</h2>
<p class="big">${o.nextSpotCheck ? when(o.nextSpotCheck) : 'not scheduled'}</p><p class="hint">A random sample of pseudonyms, checked against the policy (analyser.schedules.spotCheck).</p></section>`);
    }
    if (o.health) {
      const bad = o.health.filter((i) => i.level === 'bad' || i.level === 'warn').length;
      cards.push(html`<section class="card wide" aria-labelledby="health-h"><h2 id="health-h">Health</h2>
<p>${bad ? `${bad} thing(s) to look at.` : 'Nothing needs attention.'} <a href="/health">Details</a></p>${healthList(o.health)}</section>`);
    }
    cards.push(figures(o.headline));
    return frame(deps, c, 'Overview', html`<div class="cards">${cards}</div>`);
  });

  t.add({ method: 'GET', path: '/api/overview', who: ['director', 'dpo', 'it'] }, async (c) => {
    const o = await overview(deps, c);
    const h = o.headline;
    return c.json({
      role: o.role,
      pending: o.pending.map((p) => ({ ...p, requested_at: new Date(p.requested_at).toISOString() })),
      active_grants: o.grants,
      investigations: o.investigations && { open: o.investigations.open, yours: o.investigations.yours.map((i) => ({ id: i.id, expires_at: i.expires_at ? new Date(i.expires_at).toISOString() : null })) },
      headline: { report_id: h.reportId, from: new Date(h.from).toISOString(), to: new Date(h.to).toISOString(), current: h.current, previous: h.previous },
      open_alerts: o.openAlerts,
      next_spot_check: o.nextSpotCheck ? new Date(o.nextSpotCheck).toISOString() : null,
      health: o.health,
    });
  });

  t.add({ method: 'GET', path: '/health', who: ['it', 'director'] }, async (c) => {
    const [items, devices] = await Promise.all([gatherHealth(deps), devicesWithoutCa(deps)]);
    return frame(deps, c, 'Health', html`${healthList(items)}
<h2>Devices without the organisation CA (last 7 days)</h2>
${devices.length ? html`<table><thead><tr><th scope="col">Device (pseudonym)</th><th scope="col">Last refused</th></tr></thead><tbody>${devices.map((d) => html`<tr><td><code>${d.clientPseudonym}</code></td><td>${when(d.lastSeen)}</td></tr>`)}</tbody></table>
<p class="hint">These devices are passed through uninspected until the CA is installed (docs/operators/inspection.md).</p>` : html`<p>None.</p>`}
<p class="hint">The same checks as <code>fairwatch doctor</code>; Grafana has the history.</p>`);
  });

  t.add({ method: 'GET', path: '/api/health', who: ['it', 'director'] }, async (c) => {
    const [items, devices] = await Promise.all([gatherHealth(deps), devicesWithoutCa(deps)]);
    return c.json({ items, devices_without_ca: devices.map((d) => ({ client_pseudonym: d.clientPseudonym, last_seen: new Date(d.lastSeen).toISOString() })) });
  });
}
