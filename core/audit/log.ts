import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Store } from '../storage/clickhouse.ts';
import { publishSiem } from '../siem/events.ts';
import { chainNext, verifyChain, type AuditEntry, type AuditRow, type VerifyResult } from './chain.ts';

// The audit chain in ClickHouse (`audit_log`). Appends from one process are serialized through a
// promise queue so two concurrent appends never claim the same seq or the same prev_hash. The head
// (seq and hash of the last row) is also kept in Redis, outside the table, so deleting the newest
// rows is detected too.

export const AUDIT_HEAD_KEY = 'fairwatch:audit:head';
const AUDIT_LOCK_KEY = 'fairwatch:audit:lock';

export type NewAuditEntry = Omit<AuditEntry, 'seq' | 'tsMs'> & { tsMs?: number };

interface DbRow {
  seq: number | string;
  ts_ms: number | string;
  actor: string;
  actor_role: string;
  action: string;
  target: string;
  reason: string;
  outcome: string;
  prev_hash: string;
  hash: string;
}

function fromDb(r: DbRow): AuditRow {
  return {
    seq: Number(r.seq), tsMs: Number(r.ts_ms), actor: r.actor, actorRole: r.actor_role, action: r.action,
    target: r.target, reason: r.reason, outcome: r.outcome, prevHash: r.prev_hash, hash: r.hash,
  };
}

const COLUMNS = 'seq, toUnixTimestamp64Milli(ts) AS ts_ms, actor, actor_role, action, target, reason, outcome, prev_hash, hash';

export class AuditLog {
  private queue: Promise<unknown> = Promise.resolve();
  private head: { seq: number; hash: string } | null | undefined;

  constructor(private readonly store: Store, private readonly redis?: Redis) {}

  /** Appends one row; resolves with it once it is stored. */
  append(entry: NewAuditEntry): Promise<AuditRow> {
    const run = this.queue.then(() => this.appendNow(entry));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(entry: NewAuditEntry): Promise<AuditRow> {
    // With a ClickHouse server several console processes may append: they take turns under a Redis
    // lock and each reads the true tail. The embedded engine has one owning process, whose cached
    // head is always right.
    const shared = !this.store.embedded && this.redis ? await this.lock(this.redis) : null;
    try {
      if (shared) this.head = undefined;
      return await this.appendLocked(entry);
    } finally {
      await shared?.();
    }
  }

  private async lock(redis: Redis): Promise<() => Promise<void>> {
    const token = randomUUID();
    for (let i = 0; i < 500; i++) {
      if ((await redis.set(AUDIT_LOCK_KEY, token, 'PX', 10_000, 'NX')) === 'OK') {
        return async () => {
          await redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, AUDIT_LOCK_KEY, token).catch(() => 0);
        };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('audit log: could not take the append lock within 5 s');
  }

  private async appendLocked(entry: NewAuditEntry): Promise<AuditRow> {
    if (this.head === undefined) {
      const last = await this.store.one<DbRow>(`SELECT ${COLUMNS} FROM ${this.store.database}.audit_log ORDER BY seq DESC LIMIT 1`);
      this.head = last ? { seq: Number(last.seq), hash: last.hash } : null;
    }
    const row = chainNext(this.head, { ...entry, tsMs: entry.tsMs ?? Date.now() });
    try {
      await this.store.insert('audit_log', [{
        seq: row.seq, ts: new Date(row.tsMs).toISOString(), actor: row.actor, actor_role: row.actorRole, action: row.action,
        target: row.target, reason: row.reason, outcome: row.outcome, prev_hash: row.prevHash, hash: row.hash,
      }]);
    } catch (e) {
      this.head = undefined; // re-read the tail next time rather than trust a head that may be wrong
      throw e;
    }
    this.head = { seq: row.seq, hash: row.hash };
    if (this.redis) await this.redis.set(AUDIT_HEAD_KEY, `${row.seq}:${row.hash}`).catch(() => undefined);
    // to the SIEM when one is configured: the row exactly as stored, nothing added
    publishSiem({ kind: 'audit', row });
    return row;
  }

  /** Newest first. */
  async list(limit = 100, offset = 0): Promise<AuditRow[]> {
    const rows = await this.store.rows<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.store.database}.audit_log ORDER BY seq DESC LIMIT {limit:UInt32} OFFSET {offset:UInt32}`,
      { limit, offset });
    return rows.map(fromDb);
  }

  async count(): Promise<number> {
    const r = await this.store.one<{ n: number | string }>(`SELECT count() AS n FROM ${this.store.database}.audit_log`);
    return Number(r?.n ?? 0);
  }

  /** Reads the whole chain and checks it (with the head kept in Redis when there is one). */
  async verify(): Promise<VerifyResult> {
    // Wait for appends already queued so the head and the rows agree.
    await this.queue;
    const rows = (await this.store.rows<DbRow>(`SELECT ${COLUMNS} FROM ${this.store.database}.audit_log ORDER BY seq`)).map(fromDb);
    let head: { seq: number; hash: string } | null = null;
    if (this.redis) {
      const raw = await this.redis.get(AUDIT_HEAD_KEY).catch(() => null);
      const m = raw ? /^(\d+):([0-9a-f]{64})$/.exec(raw) : null;
      if (m) head = { seq: Number(m[1]), hash: m[2]! };
    }
    return verifyChain(rows, head);
  }
}

const perStore = new WeakMap<Store, AuditLog>();
/** The one AuditLog of this process for `store`: every appender must share its queue and head. */
export function auditLogFor(store: Store, redis?: Redis): AuditLog {
  let log = perStore.get(store);
  if (!log) {
    log = new AuditLog(store, redis);
    perStore.set(store, log);
  }
  return log;
}
