import { describe, expect, it } from 'vitest';
import { canonicalRow, chainNext, GENESIS_HASH, hashRow, verifyChain, type AuditRow } from '../../core/audit/chain.ts';
import { decisionProblem, expiryProblem, foldRequests, grants, statusAt, type AuthRow } from '../../core/authorisation/model.ts';

// The pure parts: the audit hash chain, the authorisation fold (time online: test/analyser/time-online.test.ts).

function chain(n: number): AuditRow[] {
  const rows: AuditRow[] = [];
  for (let i = 0; i < n; i++) {
    rows.push(chainNext(rows[i - 1] ?? null, { tsMs: 1_700_000_000_000 + i, actor: `u${i}`, actorRole: 'director', action: 'report.view', target: `r${i}`, reason: '', outcome: 'allowed' }));
  }
  return rows;
}

describe('audit chain', () => {
  it('links each row to the one before from the genesis hash', () => {
    const rows = chain(3);
    expect(rows[0]!.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(verifyChain(rows)).toEqual({ ok: true, rows: 3, head: { seq: 3, hash: rows[2]!.hash } });
    expect(verifyChain([])).toMatchObject({ ok: true, rows: 0 });
  });

  it('canonical form cannot be confused by separators inside fields', () => {
    const a = { seq: 1, tsMs: 1, actor: 'a","b', actorRole: '', action: 'x', target: '', reason: '', outcome: '' };
    const b = { ...a, actor: 'a', actorRole: 'b' };
    expect(canonicalRow(a)).not.toBe(canonicalRow(b));
    expect(hashRow(GENESIS_HASH, a)).not.toBe(hashRow(GENESIS_HASH, b));
  });

  const cases: Array<[string, (rows: AuditRow[]) => AuditRow[], number, RegExp]> = [
    ['an edited reason', (r) => r.map((x) => x.seq === 3 ? { ...x, reason: 'changed' } : x), 3, /edited/],
    ['an edited outcome with its hash recomputed', (r) => r.map((x) => x.seq === 2 ? { ...x, outcome: 'allowed!', hash: hashRow(x.prevHash, { ...x, outcome: 'allowed!' }) } : x), 3, /prev_hash/],
    ['a deleted middle row', (r) => r.filter((x) => x.seq !== 4), 4, /missing/],
    ['a deleted first row', (r) => r.filter((x) => x.seq !== 1), 1, /missing/],
    ['a duplicated row', (r) => [...r, r[2]!], 3, /twice/],
    ['a changed seq', (r) => r.map((x) => x.seq === 5 ? { ...x, seq: 9 } : x), 5, /missing/],
  ];
  for (const [name, tamper, seq, problem] of cases) {
    it(`names the first broken row after ${name}`, () => {
      const v = verifyChain(tamper(chain(6)));
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.brokenSeq).toBe(seq);
        expect(v.problem).toMatch(problem);
      }
    });
  }

  it('catches rows deleted from the end when the head is known', () => {
    const rows = chain(5);
    const head = { seq: 5, hash: rows[4]!.hash };
    expect(verifyChain(rows, head).ok).toBe(true);
    expect(verifyChain(rows.slice(0, 3), head)).toMatchObject({ ok: false, brokenSeq: 4 });
  });
});

const row = (kind: AuthRow['kind'], ts: number, extra: Partial<AuthRow> = {}): AuthRow => ({
  request_id: 'r1', row_id: `${kind}${ts}`, ts, kind, subject: 'report-access', target: 'rep', actor: kind === 'request' ? 'it1' : 'dir1',
  reason: '', expires_at: null, details: '{}', ...extra,
});

describe('authorisation fold', () => {
  it('pending → approved → expired, and revoked beats unexpired', () => {
    const req = foldRequests([row('request', 1), row('approve', 2, { expires_at: 100 })]).get('r1')!;
    expect(statusAt(req, 50)).toBe('approved');
    expect(grants(req, 'it1', 50)).toBe(true);
    expect(grants(req, 'it2', 50)).toBe(false);
    expect(statusAt(req, 100)).toBe('expired');
    expect(grants(req, 'it1', 100)).toBe(false);
    const revoked = foldRequests([row('request', 1), row('approve', 2, { expires_at: 100 }), row('revoke', 3)]).get('r1')!;
    expect(statusAt(revoked, 50)).toBe('revoked');
    expect(statusAt(foldRequests([row('request', 1)]).get('r1')!, 5)).toBe('pending');
  });

  it('the first decision wins, whatever order rows are read in', () => {
    const rows = [row('approve', 3, { expires_at: 1000 }), row('refuse', 2, { reason: 'no' }), row('request', 1)];
    const req = foldRequests(rows).get('r1')!;
    expect(statusAt(req, 10)).toBe('refused');
    expect(req.refusal!.reason).toBe('no');
    // a revoke of a refused request grants nothing and changes nothing
    expect(statusAt(foldRequests([...rows, row('revoke', 4)]).get('r1')!, 10)).toBe('refused');
  });

  it('decisions without a request are ignored, never a grant', () => {
    expect(foldRequests([row('approve', 2, { expires_at: 1e15 })]).size).toBe(0);
  });

  it('decision rules: four-eyes opener cannot approve; only active grants are revoked', () => {
    const inv = foldRequests([row('request', 1, { subject: 'investigation', actor: 'dir1', details: '{"four_eyes":true}' })]).get('r1')!;
    expect(decisionProblem(inv, 'approve', 'dir1', 5)).toMatch(/second director/);
    expect(decisionProblem(inv, 'approve', 'dir2', 5)).toBeNull();
    expect(decisionProblem(inv, 'revoke', 'dir2', 5)).toMatch(/only an active grant/);
    const expired = foldRequests([row('request', 1), row('approve', 2, { expires_at: 3 })]).get('r1')!;
    expect(decisionProblem(expired, 'revoke', 'dir1', 10)).toMatch(/expired/);
    expect(decisionProblem(expired, 'approve', 'dir1', 10)).toMatch(/already expired/);
  });

  it('expiry bounds: minutes to days', () => {
    expect(expiryProblem(1)).toBeNull();
    expect(expiryProblem(90 * 24 * 60)).toBeNull();
    for (const bad of [0, -1, 2.5, '60', null, 90 * 24 * 60 + 1]) expect(expiryProblem(bad)).toMatch(/expires_in_minutes/);
  });
});
