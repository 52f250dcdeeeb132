// The authorisation model, pure: append-only rows (request, approve, refuse, revoke) folded into the
// current state of each request. Expiry is a property of the moment you ask (`statusAt`), so a
// cached fold can never hand out a grant that has run out.

export const SUBJECTS = ['report-access', 'investigation', 'investigation-access', 'work-exception', 'self-report', 'subject-access', 'concern'] as const;
export type Subject = (typeof SUBJECTS)[number];
export type RowKind = 'request' | 'approve' | 'refuse' | 'revoke';
export type Status = 'pending' | 'approved' | 'refused' | 'revoked' | 'expired';

export interface AuthRow {
  request_id: string;
  row_id: string;
  /** milliseconds since the epoch */
  ts: number;
  kind: RowKind;
  subject: Subject;
  target: string;
  /** console user_id, or a staff pseudonym for block-page requests */
  actor: string;
  reason: string;
  /** milliseconds since the epoch, or null */
  expires_at: number | null;
  details: string;
}

export interface Decision {
  by: string;
  at: number;
  reason: string;
}

export interface AuthRequest {
  id: string;
  subject: Subject;
  target: string;
  requester: string;
  reason: string;
  requestedAt: number;
  details: Record<string, unknown>;
  approval: (Decision & { expiresAt: number | null }) | null;
  refusal: Decision | null;
  revocation: Decision | null;
}

function parseDetails(s: string): Record<string, unknown> {
  try {
    const v = JSON.parse(s || '{}') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {};
  } catch {
    return {};
  }
}

/**
 * Folds rows (any order, any mix of requests) into requests. The first decision wins: an approve
 * or refuse after another decision is ignored, and a revoke counts only after an approval.
 */
export function foldRequests(rows: readonly AuthRow[]): Map<string, AuthRequest> {
  const sorted = [...rows].sort((a, b) => a.ts - b.ts || order(a.kind) - order(b.kind));
  const out = new Map<string, AuthRequest>();
  for (const r of sorted) {
    if (r.kind === 'request') {
      if (!out.has(r.request_id)) {
        out.set(r.request_id, {
          id: r.request_id, subject: r.subject, target: r.target, requester: r.actor, reason: r.reason,
          requestedAt: r.ts, details: parseDetails(r.details), approval: null, refusal: null, revocation: null,
        });
      }
      continue;
    }
    const req = out.get(r.request_id);
    if (!req) continue; // a decision without its request is ignored, never a grant
    const d: Decision = { by: r.actor, at: r.ts, reason: r.reason };
    if (r.kind === 'approve' && !req.approval && !req.refusal) req.approval = { ...d, expiresAt: r.expires_at };
    else if (r.kind === 'refuse' && !req.approval && !req.refusal) req.refusal = d;
    else if (r.kind === 'revoke' && req.approval && !req.revocation) req.revocation = d;
  }
  return out;
}

function order(k: RowKind): number {
  return k === 'request' ? 0 : k === 'revoke' ? 2 : 1;
}

export function statusAt(req: AuthRequest, now: number): Status {
  if (req.refusal) return 'refused';
  if (!req.approval) return 'pending';
  if (req.revocation) return 'revoked';
  if (req.approval.expiresAt !== null && req.approval.expiresAt <= now) return 'expired';
  return 'approved';
}

/** Whether `holder` may use `req` now: approved, unexpired, unrevoked, and theirs. */
export function grants(req: AuthRequest, holder: string, now: number): boolean {
  return req.requester === holder && statusAt(req, now) === 'approved';
}

/** Approve/refuse/revoke rules that need no I/O; returns the reason it is not allowed, or null. */
export function decisionProblem(req: AuthRequest, kind: Exclude<RowKind, 'request'>, by: string, now: number): string | null {
  const status = statusAt(req, now);
  if (kind === 'revoke') return status === 'approved' ? null : `request ${req.id} is ${status}, only an active grant can be revoked`;
  if (status !== 'pending') return `request ${req.id} is already ${status}`;
  // Four-eyes: the director who opened an investigation cannot be its second approver.
  if (req.subject === 'investigation' && req.details.four_eyes === true && req.requester === by) return 'a second director or the DPO must approve an investigation you opened';
  // A subject access export from the console always needs a second pair of eyes (the CLI is for whoever holds the data directory).
  if (req.subject === 'subject-access' && req.requester === by) return 'a second director or the DPO must approve a subject access request you made';
  return null;
}

/** Bounds for "approve with an expiry (minutes to days)". */
export const MIN_EXPIRY_MINUTES = 1;
export const MAX_EXPIRY_MINUTES = 90 * 24 * 60;

export function expiryProblem(minutes: unknown): string | null {
  if (typeof minutes !== 'number' || !Number.isInteger(minutes)) return 'expires_in_minutes: expected a whole number of minutes';
  if (minutes < MIN_EXPIRY_MINUTES || minutes > MAX_EXPIRY_MINUTES) return `expires_in_minutes: expected ${MIN_EXPIRY_MINUTES} to ${MAX_EXPIRY_MINUTES} (90 days)`;
  return null;
}
