import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertId } from '../../core/alerts/rules.ts';
import { openConsole, type Account } from '../console/harness.ts';

// An alert through the console's usual approval flow with console.fourEyes on: the director's
// request waits, the subject is not shown until the DPO approves, then the opener sees the person.
// Also: bad action bodies, and a pseudonym nobody in the directory has.

let h: Awaited<ReturnType<typeof openConsole>>;
let dana: Account;
let pat: Account;
let n = 0;

async function alertAbout(pseudonym: string): Promise<string> {
  const from = (Math.floor(Date.now() / 3_600_000) - 1 - n++) * 3_600_000;
  const id = alertId(pseudonym, 'phishing', 'hour', from);
  await h.deps.alerts.write([{ window: { id, pseudonym, category: 'phishing', kind: 'hour', from, to: from + 3_600_000, threshold: 3 }, attempts: 5, firstSeen: from + 1000, lastSeen: from + 2000 }], Date.now());
  return id;
}

beforeAll(async () => {
  h = await openConsole('console: { fourEyes: true }\n');
  dana = await h.addUser('dana', 'director', 'managers');
  pat = await h.addUser('pat', 'dpo', 'managers');
  await h.addUser('sam.taylor', 'staff');
}, 120_000);
afterAll(async () => { await h?.cleanup(); });

describe('alert → investigation with four eyes', () => {
  it('waits for the second approver; nobody sees the person until then', async () => {
    const id = await alertAbout(h.deps.pseudonyms.user('sam.taylor'));
    const d = await h.sessionFor(dana);
    for (const [json, want] of [[{}, /allegation: required/], [{ allegation: '   ' }, /allegation: required/], [{ allegation: 'x', expires_in_minutes: 'soon' }, /expires_in_minutes: expected a whole number/], [{ allegation: 'x', from: 'yesterday' }, /from: expected an ISO date/]] as const) {
      const r = await h.request('POST', `/api/alerts/${id}/investigation`, { ...d, json });
      expect(r.status).toBe(400);
      expect(r.text).toMatch(want);
    }
    const r = await h.request('POST', `/api/alerts/${id}/investigation`, { ...d, json: { allegation: 'Reported by a colleague as well', expires_in_minutes: 120 } });
    expect(r.status, r.text).toBe(201);
    const { investigation_id: inv, status } = JSON.parse(r.text) as { investigation_id: string; status: string };
    expect(status).toBe('pending');
    expect(r.text).not.toContain('sam');
    expect((await h.request('GET', `/api/investigations/${inv}/activity`, d)).status).toBe(403);
    const req = await h.deps.authz.get(inv);
    expect(req!.details).toMatchObject({ from_alert: id, subject_pseudonym: h.deps.pseudonyms.user('sam.taylor') });
    // the alert is acted on: a second request from it is refused
    expect((await h.request('POST', `/api/alerts/${id}/investigation`, { ...d, json: { allegation: 'again' } })).status).toBe(409);
    // lists and the inbox show the pseudonym while it waits, to the opener and to the approver
    const p = await h.sessionFor(pat);
    for (const [who, path] of [[d, '/inbox'], [d, '/investigations'], [p, '/inbox']] as const) {
      const page = await h.request('GET', path, who);
      expect(page.status).toBe(200);
      expect(page.text, path).not.toContain('sam.taylor');
      expect(page.text, path).toContain(h.deps.pseudonyms.user('sam.taylor'));
    }
    // the DPO approves as for any investigation
    const approved = await h.request('POST', `/api/access-requests/${inv}/approve`, { ...p, json: {} });
    expect(approved.status, approved.text).toBe(200);
    const activity = await h.request('GET', `/api/investigations/${inv}/activity`, d);
    expect(activity.status).toBe(200);
    expect(JSON.parse(activity.text).subject).toBe('sam.taylor');
    expect((await h.request('GET', '/investigations', d)).text).toContain('sam.taylor');
  });

  it('a pseudonym nobody in the directory has: refused with a reason, the alert stays open', async () => {
    const id = await alertAbout('0123456789abcdef');
    const r = await h.request('POST', `/api/alerts/${id}/investigation`, { ...(await h.sessionFor(dana)), json: { allegation: 'x' } });
    expect(r.status).toBe(409);
    expect(r.text).toMatch(/not in the user directory/);
    expect((await h.deps.alerts.get(id))!.status).toBe('open');
  });

  it('dismissing needs a reason; the reason is in the audit row of the dismissal', async () => {
    const id = await alertAbout(h.deps.pseudonyms.user('sam.taylor'));
    const d = await h.sessionFor(dana);
    expect((await h.request('POST', `/api/alerts/${id}/dismiss`, { ...d, json: {} })).status).toBe(400);
    const r = await h.request('POST', `/api/alerts/${id}/dismiss`, { ...d, json: { reason: 'a shared laptop; spoken to the team' } });
    expect(r.status).toBe(200);
    const [last] = await h.deps.audit.list(1);
    expect(last).toMatchObject({ action: 'alert.dismiss', target: id, reason: 'a shared laptop; spoken to the team', outcome: 'allowed', actor: dana.userId });
  });
});
