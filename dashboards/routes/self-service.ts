import { html } from 'hono/html';
import type { ConsoleDeps } from '../deps.ts';
import { HttpError, str, type Ctx, type RouteTable } from '../access.ts';
import { requireReauth } from '../security/reauth.ts';
import { csrfField, when, type Fragment } from '../views/layout.ts';

// What anyone signed in does for themselves from /my: change their password, report a visit they
// made by accident (picked from their own recent visits, as a block page would), and report a
// concern about material or misuse to the directors: under their pseudonym unless they choose to
// be named.

export interface RecentVisit {
  event_id: string;
  t: number;
  host: string;
  category: string;
  action: string;
}

/** The person's own last visits (one line per site, newest first), for picking an accidental one. */
export async function recentVisits(deps: ConsoleDeps, c: Ctx): Promise<RecentVisit[]> {
  const pseudonym = deps.pseudonyms.user(c.get('user')!.username);
  const rows = await deps.store.rows<{ id: string; t: number | string; host: string; category: string; action: string }>(
    `SELECT toString(argMax(event_id, ts)) AS id, toUnixTimestamp64Milli(max(ts)) AS t, host, argMax(category, ts) AS category, argMax(action, ts) AS action
     FROM ${deps.store.database}.events WHERE user_pseudonym = {p:String} AND ts >= {since:DateTime64(3)}
     GROUP BY host ORDER BY t DESC LIMIT 30`,
    { p: pseudonym, since: new Date(deps.now() - 7 * 86_400_000).toISOString().slice(0, 23).replace('T', ' ') });
  return rows.map((r) => ({ event_id: r.id, t: Number(r.t), host: r.host, category: r.category, action: r.action }));
}

export function selfServiceSections(csrf: string, visits: RecentVisit[], sent: string | undefined): Fragment {
  const notice: Record<string, string> = { password: 'Your password was changed.', accident: 'Your report was sent to the directors.', concern: 'Your concern was sent to the directors.' };
  return html`${sent && notice[sent] ? html`<p class="ok" role="status">${notice[sent]}</p>` : ''}
<section aria-labelledby="acc-h"><h2 id="acc-h">Report an accidental visit</h2>
<p class="hint">Reached something by mistake? Say so here; it is recorded next to the visit. Your last seven days, one line per site:</p>
${visits.length ? html`<form method="post" action="/my/accident">${csrfField(csrf)}
<fieldset><legend class="hint">Which visit</legend>${visits.map((v, i) => html`<label class="check"><input type="radio" name="event_id" value="${v.event_id}"${i === 0 ? ' required' : ''}> ${v.host} (${v.category || 'uncategorised'}, ${v.action === 'block' ? 'blocked' : 'allowed'}, ${when(v.t)})</label>`)}</fieldset>
<label for="acc-what">What happened (optional)</label><textarea id="acc-what" name="reason" maxlength="2000"></textarea>
<button type="submit">Report the visit</button></form>` : html`<p>No visits recorded for you in the last seven days.</p>`}</section>
<section aria-labelledby="con-h"><h2 id="con-h">Report a concern</h2>
<p class="hint">About material you saw or misuse of the internet at work. It goes to the directors under a pseudonym unless you tick the box.</p>
<form method="post" action="/my/concern">${csrfField(csrf)}
<label for="con-what">Your concern</label><textarea id="con-what" name="concern" required maxlength="5000"></textarea>
<label class="check"><input type="checkbox" name="named" value="yes"> Show my name to the directors</label>
<button type="submit">Send to the directors</button></form></section>
<section aria-labelledby="pw-h"><h2 id="pw-h">Change my password</h2>
<form method="post" action="/my/password">${csrfField(csrf)}
<label for="pw-cur">Current password</label><input id="pw-cur" name="password" type="password" autocomplete="current-password" required>
<label for="pw-new">New password (at least 10 characters)</label><input id="pw-new" name="new_password" type="password" autocomplete="new-password" minlength="10" required>
<label for="pw-again">The same again</label><input id="pw-again" name="again" type="password" autocomplete="new-password" minlength="10" required>
<button type="submit">Change password</button></form></section>`;
}

async function changePassword(deps: ConsoleDeps, c: Ctx): Promise<void> {
  const b = c.get('body');
  const user = c.get('user')!;
  str(b, 'password', { required: true, max: 1000 });
  // the current password is checked as a re-authentication: a wrong one counts towards the sign-in lockout
  await requireReauth(deps, c);
  const next = str(b, 'new_password', { required: true, max: 1000 });
  if (next !== str(b, 'again', { max: 1000 })) throw new HttpError(400, 'again: the two new passwords differ');
  if (next.length < 10) throw new HttpError(400, 'new_password: at least 10 characters are needed');
  await deps.users.setPassword(user.username, next);
}

async function reportAccident(deps: ConsoleDeps, c: Ctx): Promise<string> {
  const b = c.get('body');
  const eventId = str(b, 'event_id', { required: true, max: 40 });
  const visit = (await recentVisits(deps, c)).find((v) => v.event_id === eventId);
  if (!visit) throw new HttpError(400, 'event_id: not one of your visits in the last seven days');
  const req = await deps.authz.request({
    subject: 'self-report', target: visit.host, requester: deps.pseudonyms.user(c.get('user')!.username),
    reason: str(b, 'reason', { max: 2000 }) || '(no details given)',
    details: { event_id: visit.event_id, category: visit.category, host: visit.host, from: 'console' },
  });
  return req.id;
}

async function reportConcern(deps: ConsoleDeps, c: Ctx): Promise<string> {
  const b = c.get('body');
  const text = str(b, 'concern', { required: true, max: 5000 });
  if (!text.trim()) throw new HttpError(400, 'concern: required');
  const named = b.named === 'yes' || b.named === true;
  const user = c.get('user')!;
  const req = await deps.authz.request({
    subject: 'concern', target: 'concern', requester: named ? user.userId : deps.pseudonyms.user(user.username), reason: text, details: { named },
  });
  return req.id;
}

export function selfServiceRoutes(deps: ConsoleDeps, t: RouteTable): void {
  t.add({ method: 'POST', path: '/my/password', who: 'signed-in', audit: 'user.change-password' }, async (c) => {
    await changePassword(deps, c);
    return c.redirect('/my?sent=password', 303);
  });
  t.add({ method: 'POST', path: '/api/my/password', who: 'signed-in', audit: 'user.change-password' }, async (c) => {
    await changePassword(deps, c);
    return c.json({ ok: true });
  });
  t.add({ method: 'GET', path: '/api/my/visits', who: 'signed-in' }, async (c) => c.json((await recentVisits(deps, c)).map((v) => ({ ...v, t: new Date(v.t).toISOString() }))));
  t.add({ method: 'POST', path: '/my/accident', who: 'signed-in', audit: 'self-report.console' }, async (c) => {
    await reportAccident(deps, c);
    return c.redirect('/my?sent=accident', 303);
  });
  t.add({ method: 'POST', path: '/api/my/accident', who: 'signed-in', audit: 'self-report.console' }, async (c) => c.json({ id: await reportAccident(deps, c) }, 201));
  t.add({ method: 'POST', path: '/my/concern', who: 'signed-in', audit: 'concern.report' }, async (c) => {
    await reportConcern(deps, c);
    return c.redirect('/my?sent=concern', 303);
  });
  t.add({ method: 'POST', path: '/api/my/concern', who: 'signed-in', audit: 'concern.report' }, async (c) => c.json({ id: await reportConcern(deps, c) }, 201));
}
