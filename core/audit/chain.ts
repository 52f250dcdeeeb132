import { createHash } from 'node:crypto';

// The audit chain's hash logic, pure: each row's hash is SHA-256 over the previous row's hash and
// the row's canonical form, so editing or deleting any row breaks every hash after it.

export interface AuditEntry {
  seq: number;
  /** milliseconds since the epoch (ClickHouse DateTime64(3) round-trips it exactly) */
  tsMs: number;
  /** console user_id, or 'anonymous' / 'system' */
  actor: string;
  actorRole: string;
  action: string;
  target: string;
  reason: string;
  outcome: string;
}

export interface AuditRow extends AuditEntry {
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** A fixed field order and JSON escaping: the same row always gives the same bytes. */
export function canonicalRow(e: AuditEntry): string {
  return JSON.stringify([e.seq, e.tsMs, e.actor, e.actorRole, e.action, e.target, e.reason, e.outcome]);
}

export function hashRow(prevHash: string, e: AuditEntry): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRow(e)).digest('hex');
}

/** The row that follows `prev` (null: the first row of the chain). */
export function chainNext(prev: Pick<AuditRow, 'seq' | 'hash'> | null, entry: Omit<AuditEntry, 'seq'>): AuditRow {
  const seq = prev ? prev.seq + 1 : 1;
  const prevHash = prev ? prev.hash : GENESIS_HASH;
  const full: AuditEntry = { ...entry, seq };
  return { ...full, prevHash, hash: hashRow(prevHash, full) };
}

export type VerifyResult =
  | { ok: true; rows: number; head: { seq: number; hash: string } | null }
  | { ok: false; rows: number; brokenSeq: number; problem: string };

/**
 * Checks rows (any order) form one unbroken chain from seq 1. `expectedHead`, when known (kept
 * outside ClickHouse), also catches rows deleted from the end.
 */
export function verifyChain(rows: readonly AuditRow[], expectedHead?: { seq: number; hash: string } | null): VerifyResult {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  let prev: AuditRow | null = null;
  for (const row of sorted) {
    const wantSeq = prev ? prev.seq + 1 : 1;
    if (row.seq === prev?.seq) return { ok: false, rows: sorted.length, brokenSeq: row.seq, problem: 'appears twice (a row was duplicated)' };
    if (row.seq !== wantSeq) {
      return { ok: false, rows: sorted.length, brokenSeq: wantSeq, problem: `is missing (deleted?): the next row present is seq ${row.seq}` };
    }
    const wantPrev = prev ? prev.hash : GENESIS_HASH;
    if (row.prevHash !== wantPrev) return { ok: false, rows: sorted.length, brokenSeq: row.seq, problem: 'prev_hash does not match the hash of the row before it' };
    if (hashRow(row.prevHash, row) !== row.hash) return { ok: false, rows: sorted.length, brokenSeq: row.seq, problem: 'content does not match its hash (the row was edited)' };
    prev = row;
  }
  if (expectedHead && (!prev || prev.seq < expectedHead.seq)) {
    const next = prev ? prev.seq + 1 : 1;
    return { ok: false, rows: sorted.length, brokenSeq: next, problem: `is missing (deleted?): the chain head recorded seq ${expectedHead.seq}` };
  }
  if (expectedHead && prev && prev.seq === expectedHead.seq && prev.hash !== expectedHead.hash) {
    return { ok: false, rows: sorted.length, brokenSeq: prev.seq, problem: 'does not match the recorded chain head' };
  }
  return { ok: true, rows: sorted.length, head: prev ? { seq: prev.seq, hash: prev.hash } : null };
}
