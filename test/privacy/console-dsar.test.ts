import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openConsole, subjectEvent } from '../console/harness.ts';

// The console's subject access request: a director asks, cannot approve it alone; the DPO approves
// in the inbox; only the asking director downloads it, and it holds the one person's rows. Legal
// holds and the register through the JSON API.

let cleanup: () => Promise<void> = async () => {};
afterAll(() => cleanup());

describe('console subject access (four eyes)', () => {
  it('request, self-approval refused, DPO approves, export holds one person; holds and register', async () => {
    const h = await openConsole();
    cleanup = h.cleanup;
    const dana = await h.addUser('dana', 'director');
    const dave = await h.addUser('dave', 'director');
    const pat = await h.addUser('pat', 'dpo');
    await h.addUser('alice', 'staff');
    await h.addUser('bob', 'staff');
    const base = Date.now() - 2 * 86_400_000;
    const aPs = h.p.pseudonyms.user('alice');
    const bPs = h.p.pseudonyms.user('bob');
    await h.p.store.insert('events', [0, 1, 2].map((m) => subjectEvent(aPs, base, m, { host: `alice${m}.example` })));
    await h.p.store.insert('events', [0, 1].map((m) => subjectEvent(bPs, base, m, { host: `bob${m}.example` })));
    const D = await h.sessionFor(dana);
    const V = await h.sessionFor(dave);
    const P = await h.sessionFor(pat);

    expect((await h.request('POST', '/api/subject-access', { cookie: D.cookie, json: { username: 'nobody', reason: 'SAR 1' } })).status).toBe(400);
    const made = await h.request('POST', '/api/subject-access', { cookie: D.cookie, json: { username: 'alice', reason: 'SAR 2026-7 received 1 May' } });
    expect(made.status).toBe(201);
    const { id, status } = JSON.parse(made.text) as { id: string; status: string };
    expect(status).toBe('pending');
    expect((await h.request('POST', `/api/subject-access/${id}/export`, { cookie: D.cookie, json: {} })).status).toBe(403);
    const self = await h.request('POST', `/api/access-requests/${id}/approve`, { cookie: D.cookie, json: { expires_in_minutes: 60 } });
    expect(self.status).toBe(403);
    expect(self.text).toMatch(/second director or the DPO/);
    const ok = await h.request('POST', `/api/access-requests/${id}/approve`, { cookie: P.cookie, json: { expires_in_minutes: 60 } });
    expect(ok.status).toBe(200);
    // another director may not download it
    expect((await h.request('POST', `/api/subject-access/${id}/export`, { cookie: V.cookie, json: {} })).status).toBe(403);
    const res = await h.app.request(`/api/subject-access/${id}/export`, { method: 'POST', headers: { cookie: D.cookie, origin: 'http://localhost', 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    const dir = mkdtempSync(join(tmpdir(), 'sar-check-'));
    try {
      writeFileSync(join(dir, 'x.tar.gz'), Buffer.from(await res.arrayBuffer()));
      execFileSync('tar', ['-xzf', join(dir, 'x.tar.gz'), '-C', dir]);
      const csv = readFileSync(join(dir, 'events.csv'), 'utf8');
      expect(csv.trim().split('\r\n')).toHaveLength(4);
      expect(csv).toContain('alice2.example');
      expect(csv).not.toContain('bob');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const hold = await h.request('POST', '/api/legal-holds', { cookie: D.cookie, json: { requesting_body: 'Police', reference: 'P/1', legal_basis: 'DPA 2018 Sch 2 para 2', usernames: ['bob'], from: new Date(base - 1000).toISOString(), to: new Date(base + 3_600_000).toISOString() } });
    expect(hold.status).toBe(201);
    expect(JSON.parse(hold.text)).toMatchObject({ heldEvents: 2, status: 'open' });
    expect((await h.request('POST', '/api/legal-holds', { cookie: P.cookie, json: {} })).status).toBe(403);
    const reg = JSON.parse((await h.request('GET', '/api/disclosures', { cookie: P.cookie })).text) as Array<{ kind: string; actor: string }>;
    expect(reg).toEqual([expect.objectContaining({ kind: 'subject-access', actor: dana.userId })]);

    // the pages: the DPO reads holds and the register; the director also opens and releases holds by form
    const dpoHolds = await h.request('GET', '/legal-holds', { cookie: P.cookie });
    expect(dpoHolds.status).toBe(200);
    expect(dpoHolds.text).toMatch(/<td>open<\/td><td>Police<\/td><td>P\/1<\/td><td class="reason">DPA 2018 Sch 2 para 2<\/td>\s*<td>1 person, [^<]+<\/td><td>2 events, 0 reports<\/td>/);
    expect(dpoHolds.text).not.toContain('action="/legal-holds"');
    expect(dpoHolds.text).not.toContain('Release</button>');
    expect(dpoHolds.text).not.toMatch(/\bbob\b/);
    const day = new Date(base).toISOString().slice(0, 10);
    const next = new Date(base + 86_400_000).toISOString().slice(0, 10);
    const formOpen = await h.request('POST', '/legal-holds', { cookie: D.cookie, form: { _csrf: D.csrf, requesting_body: 'HMRC', reference: 'H/9', legal_basis: 'DPA 2018 Sch 2 para 2', usernames: 'alice, bob', from: day, to: next } });
    expect(formOpen.status).toBe(303);
    expect(formOpen.headers.get('location')).toBe('/legal-holds?done=opened');
    const dirHolds = await h.request('GET', '/legal-holds?done=opened', { cookie: D.cookie });
    expect(dirHolds.text).toContain('Hold opened.');
    expect(dirHolds.text).toMatch(/<td>open<\/td><td>HMRC<\/td><td>H\/9<\/td>[\s\S]*?<td>2 people, [^<]+<\/td><td>5 events, 0 reports<\/td>/);
    expect(dirHolds.text).toContain('action="/legal-holds"');
    const heldId = JSON.parse(hold.text).id as string;
    const released = await h.request('POST', `/legal-holds/${heldId}/release`, { cookie: D.cookie, form: { _csrf: D.csrf, reason: 'case closed' } });
    expect(released.status).toBe(303);
    expect((await h.request('GET', '/legal-holds', { cookie: P.cookie })).text).toMatch(new RegExp(`id="hold-${heldId}"><td>released</td>[\\s\\S]*?: case closed</td>`));
    const register = await h.request('GET', '/disclosures', { cookie: P.cookie });
    expect(register.status).toBe(200);
    expect(register.text).toMatch(/<td>subject access<\/td><td>the data subject<\/td><td>SAR 2026-7 received 1 May<\/td><td class="reason">UK GDPR article 15/);

    // the DPIA draft from the running configuration, as a page and as a download, audited
    const draft = await h.request('GET', '/privacy/dpia', { cookie: P.cookie });
    expect(draft.status).toBe(200);
    expect(draft.text).toContain('TO COMPLETE');
    expect(draft.text).toContain(`${h.p.config.retention.eventsDays} days`);
    const md = await h.request('GET', '/privacy/dpia.md', { cookie: D.cookie });
    expect(md.headers.get('content-disposition')).toContain('fairwatch-dpia-draft.md');
    expect(md.text).toContain('TO COMPLETE');
    expect(Number((await h.p.store.rows<{ n: number }>("SELECT count() AS n FROM fairwatch.audit_log WHERE action = 'dpia.view'"))[0]!.n)).toBe(2);

    const audit = await h.p.store.rows<{ action: string; outcome: string }>("SELECT action, outcome FROM fairwatch.audit_log WHERE action LIKE 'dsar.%' OR action LIKE 'hold.%' ORDER BY seq");
    expect(audit.map((a) => a.action)).toEqual(['dsar.request', 'dsar.request', 'dsar.export', 'dsar.export', 'dsar.export', 'hold.open', 'hold.open', 'hold.list', 'hold.open', 'hold.list', 'hold.release', 'hold.list']);
  }, 300_000);
});
