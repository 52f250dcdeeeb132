import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Store } from '../storage/clickhouse.ts';
import {
  decisionProblem, foldRequests, grants, statusAt, type AuthRequest, type AuthRow, type RowKind, type Status, type Subject,
} from './model.ts';
import { FairwatchError } from '../errors.ts';

// The `authorisations` table adapter: appends rows, folds them (model.ts) and caches the fold in
// Redis. A write deletes the cached entries it affects, in the same shared Redis every console uses,
// so a revocation takes effect at the next access anywhere; expiry needs no invalidation because
// status is computed at the moment of each access.

type AuthzErrorCode = 'FW_AUTHZ_UNKNOWN' | 'FW_AUTHZ_STATE' | 'FW_AUTHZ_INVALID' | 'FW_AUTHZ_BUSY';

export class AuthzError extends FairwatchError<AuthzErrorCode> {
  declare readonly httpStatus: 404 | 409 | 400 | 503;
  constructor(code: AuthzErrorCode, message: string, status: 404 | 409 | 400 | 503) {
    super(code, message, { httpStatus: status });
  }
}

const CACHE_SECONDS = 60;

/**
 * Published (with no personal data: id, subject, whether a decision is needed) whenever a request
 * is recorded, whoever records it — the console, or the staff pages of a block page — so the
 * console can tell the directors.
 */
export const REQUESTS_CHANNEL = 'fairwatch:authz-requests';
export interface RequestAnnouncement {
  id: string;
  subject: Subject;
  needsDecision: boolean;
}
const key = {
  request: (id: string) => `fairwatch:authz:req:${id}`,
  target: (subject: string, target: string) => `fairwatch:authz:target:${subject}:${target}`,
  lock: (id: string) => `fairwatch:authz:lock:${id}`,
};

interface DbRow {
  request_id: string;
  row_id: string;
  ts_ms: number | string;
  kind: string;
  subject: string;
  target: string;
  actor: string;
  reason: string;
  expires_ms: number | string | null;
  details: string;
}

const COLUMNS = `request_id, row_id, toUnixTimestamp64Milli(ts) AS ts_ms, kind, subject, target, actor, reason,
  if(isNull(expires_at), NULL, toUnixTimestamp64Milli(assumeNotNull(expires_at))) AS expires_ms, details`;

function fromDb(r: DbRow): AuthRow {
  return {
    request_id: r.request_id, row_id: r.row_id, ts: Number(r.ts_ms), kind: r.kind as RowKind, subject: r.subject as Subject,
    target: r.target, actor: r.actor, reason: r.reason, expires_at: r.expires_ms === null ? null : Number(r.expires_ms), details: r.details,
  };
}

export interface RequestInput {
  subject: Subject;
  target: string;
  requester: string;
  reason: string;
  details?: Record<string, unknown>;
}

export interface ListFilter {
  subject?: Subject | Subject[];
  requester?: string;
  status?: Status | Status[];
}

export class Authorisations {
  private lastTs = 0;

  constructor(private readonly store: Store, private readonly redis: Redis, private readonly now: () => number = Date.now) {}

  /** Strictly increasing row times from this process, so the fold's order is the order of writes. */
  private stamp(): number {
    this.lastTs = Math.max(this.now(), this.lastTs + 1);
    return this.lastTs;
  }

  private async write(rows: AuthRow[]): Promise<void> {
    await this.store.insert('authorisations', rows.map((r) => ({
      request_id: r.request_id, row_id: r.row_id, ts: new Date(r.ts).toISOString(), kind: r.kind, subject: r.subject,
      target: r.target, actor: r.actor, reason: r.reason, expires_at: r.expires_at === null ? null : new Date(r.expires_at).toISOString(),
      details: r.details,
    })));
    const dels = new Set<string>();
    for (const r of rows) {
      dels.add(key.request(r.request_id));
      dels.add(key.target(r.subject, r.target));
    }
    await this.redis.del(...dels).catch(() => 0);
  }

  /** Records a new request; returns its id. */
  async request(input: RequestInput): Promise<AuthRequest> {
    if (!input.reason.trim()) throw new AuthzError('FW_AUTHZ_INVALID', 'reason: a reason is required', 400);
    const id = randomUUID();
    const row: AuthRow = {
      request_id: id, row_id: randomUUID(), ts: this.stamp(), kind: 'request', subject: input.subject, target: input.target,
      actor: input.requester, reason: input.reason, expires_at: null, details: JSON.stringify(input.details ?? {}),
    };
    await this.write([row]);
    const needsDecision = input.subject === 'investigation' ? input.details?.four_eyes === true : input.subject !== 'investigation-access';
    const note: RequestAnnouncement = { id, subject: input.subject, needsDecision };
    await this.redis.publish(REQUESTS_CHANNEL, JSON.stringify(note)).catch(() => 0);
    return foldRequests([row]).get(id)!;
  }

  /** Approves, refuses or revokes under a short Redis lock so two directors cannot decide at once. */
  async decide(id: string, kind: Exclude<RowKind, 'request'>, by: string, opts: { reason?: string; expiresAt?: number | null } = {}): Promise<AuthRequest> {
    const lock = key.lock(id);
    const token = randomUUID();
    if ((await this.redis.set(lock, token, 'PX', 10_000, 'NX')) !== 'OK') {
      throw new AuthzError('FW_AUTHZ_BUSY', `request ${id} is being decided by someone else; try again`, 503);
    }
    try {
      const req = await this.load(id, false);
      if (!req) throw new AuthzError('FW_AUTHZ_UNKNOWN', `no request ${id}`, 404);
      const problem = decisionProblem(req, kind, by, this.now());
      if (problem) throw new AuthzError('FW_AUTHZ_STATE', problem, 409);
      if (kind === 'refuse' && !opts.reason?.trim()) throw new AuthzError('FW_AUTHZ_INVALID', 'reason: a reason is required to refuse', 400);
      const row: AuthRow = {
        request_id: id, row_id: randomUUID(), ts: this.stamp(), kind, subject: req.subject, target: req.target, actor: by,
        reason: opts.reason ?? '', expires_at: kind === 'approve' ? opts.expiresAt ?? null : null, details: '{}',
      };
      await this.write([row]);
      return (await this.load(id, false))!;
    } finally {
      // release only our own lock
      await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, lock, token).catch(() => 0);
    }
  }

  /** One request, from the Redis cache when fresh. */
  async get(id: string): Promise<AuthRequest | null> {
    return this.load(id, true);
  }

  private async load(id: string, useCache: boolean): Promise<AuthRequest | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    if (useCache) {
      const hit = await this.redis.get(key.request(id)).catch(() => null);
      if (hit) return JSON.parse(hit) as AuthRequest;
    }
    const rows = (await this.store.rows<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.store.database}.authorisations WHERE request_id = {id:UUID}`, { id })).map(fromDb);
    const req = foldRequests(rows).get(id) ?? null;
    if (req) await this.redis.set(key.request(id), JSON.stringify(req), 'EX', CACHE_SECONDS).catch(() => null);
    return req;
  }

  /** Requests about one target (a report, an investigation), cached. */
  async forTarget(subject: Subject, target: string): Promise<AuthRequest[]> {
    const k = key.target(subject, target);
    const hit = await this.redis.get(k).catch(() => null);
    if (hit) return JSON.parse(hit) as AuthRequest[];
    const rows = (await this.store.rows<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.store.database}.authorisations WHERE subject = {s:String} AND target = {t:String}`,
      { s: subject, t: target })).map(fromDb);
    const list = [...foldRequests(rows).values()];
    await this.redis.set(k, JSON.stringify(list), 'EX', CACHE_SECONDS).catch(() => null);
    return list;
  }

  /** Whether `holder` has an approved, unexpired, unrevoked grant on the target right now. */
  async hasGrant(holder: string, subject: Subject, target: string): Promise<AuthRequest | null> {
    const now = this.now();
    return (await this.forTarget(subject, target)).find((r) => grants(r, holder, now)) ?? null;
  }

  async list(filter: ListFilter = {}): Promise<AuthRequest[]> {
    const subjects = filter.subject === undefined ? null : ([] as Subject[]).concat(filter.subject);
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (subjects) {
      where.push('subject IN {subjects:Array(String)}');
      params.subjects = subjects;
    }
    if (filter.requester) {
      where.push("request_id IN (SELECT request_id FROM " + this.store.database + ".authorisations WHERE kind = 'request' AND actor = {requester:String})");
      params.requester = filter.requester;
    }
    const rows = (await this.store.rows<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.store.database}.authorisations ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`, params)).map(fromDb);
    const now = this.now();
    const statuses = filter.status === undefined ? null : ([] as Status[]).concat(filter.status);
    return [...foldRequests(rows).values()]
      .filter((r) => !statuses || statuses.includes(statusAt(r, now)))
      .sort((a, b) => b.requestedAt - a.requestedAt);
  }

  statusOf(req: AuthRequest): Status {
    return statusAt(req, this.now());
  }

  nowMs(): number {
    return this.now();
  }
}
