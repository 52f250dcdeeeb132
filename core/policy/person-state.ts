import type { Redis } from 'ioredis';
import { CHANNELS } from '../channels.ts';
import type { ExceptionGrant, PersonState } from './types.ts';
import { FairwatchError } from '../errors.ts';
import { ErrorLogLimiter } from '../storage/redis-errors.ts';

// Per-person policy state in Redis, shared by every proxy: director-approved exceptions, warn
// "continue" grants and quota minutes. Keyed by user pseudonym, never a name. The write side is
// plain functions (the console and the proxy call them); the read side is PersonStateCache, an
// in-memory copy the proxy consults synchronously so a decision never waits on Redis.

const EXCEPTIONS_KEY = 'fairwatch:exceptions';
const continueKey = (p: string) => `fairwatch:continue:${p}`;
const quotaKey = (day: string, p: string) => `fairwatch:quota:${day}:${p}`;
const quotaMinutesKey = (day: string, p: string) => `fairwatch:quota-minutes:${day}:${p}`;
const QUOTA_TTL_SECONDS = 3 * 86_400;

export class PersonStateError extends FairwatchError {
  constructor(message: string) {
    super('FW_POLICY_STATE', message);
  }
}

function publish(redis: Redis, message: string): Promise<unknown> {
  return redis.publish(CHANNELS.exceptionsChanged, message);
}

export async function grantException(redis: Redis, g: ExceptionGrant, now = Date.now()): Promise<void> {
  if (!g.id) throw new PersonStateError('exception: id is required');
  if (!/^[0-9a-f]{16}$/.test(g.userPseudonym)) throw new PersonStateError('exception: userPseudonym must be a pseudonym (platform.pseudonyms.user(name)), not a name');
  if ((g.category === undefined) === (g.host === undefined)) throw new PersonStateError('exception: give exactly one of category or host');
  if (!Number.isFinite(g.expiresAt) || g.expiresAt <= now) throw new PersonStateError('exception: expiresAt must be in the future (epoch milliseconds)');
  await redis.hset(EXCEPTIONS_KEY, g.id, JSON.stringify(g));
  await publish(redis, `exception:${g.id}`);
}

export async function revokeException(redis: Redis, id: string): Promise<boolean> {
  const removed = await redis.hdel(EXCEPTIONS_KEY, id);
  await publish(redis, `exception:${id}`);
  return removed > 0;
}

/** Unexpired exceptions; expired ones are removed on the way. */
export async function listExceptions(redis: Redis, now = Date.now()): Promise<ExceptionGrant[]> {
  const all = await redis.hgetall(EXCEPTIONS_KEY);
  const live: ExceptionGrant[] = [];
  const expired: string[] = [];
  for (const [id, json] of Object.entries(all)) {
    try {
      const g = JSON.parse(json) as ExceptionGrant;
      if (g.expiresAt > now) live.push(g);
      else expired.push(id);
    } catch {
      expired.push(id);
    }
  }
  if (expired.length > 0) await redis.hdel(EXCEPTIONS_KEY, ...expired);
  return live;
}

/** The person chose "continue" on a warn page: the category is allowed for `minutes`. */
export async function recordContinue(redis: Redis, pseudonym: string, category: string, minutes: number, now = Date.now()): Promise<number> {
  const until = now + minutes * 60_000;
  const key = continueKey(pseudonym);
  await redis.multi().hset(key, category, String(until)).pexpire(key, Math.max(minutes, 1) * 60_000 * 2).exec();
  await publish(redis, `person:${pseudonym}`);
  return until;
}

// A minute of use counts once however many requests and proxies saw it: the minute goes in a set
// and the per-category count only rises when it was new. Atomic across processes.
const ADD_MINUTE_LUA = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')`;

const dayFormatters = new Map<string, Intl.DateTimeFormat>();
/** YYYY-MM-DD in the organisation's zone: quotas reset at local midnight. */
export function localDay(at: Date, timezone: string): string {
  let f = dayFormatters.get(timezone);
  if (!f) dayFormatters.set(timezone, (f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  return f.format(at);
}

/** Counts the minute of `at` as used for the category; returns the minutes used today. */
export async function addQuotaUsage(redis: Redis, u: { pseudonym: string; category: string; at: Date; timezone: string }): Promise<number> {
  const day = localDay(u.at, u.timezone);
  const minute = Math.floor(u.at.getTime() / 60_000);
  const used = await redis.eval(ADD_MINUTE_LUA, 2, quotaMinutesKey(day, u.pseudonym), quotaKey(day, u.pseudonym), `${u.category}|${minute}`, u.category, String(QUOTA_TTL_SECONDS));
  return Number(used);
}

export async function readPersonState(redis: Redis, pseudonym: string, day: string, now = Date.now()): Promise<{ continues: Map<string, number>; quotaMinutesUsed: Map<string, number> }> {
  const [cont, quota] = await Promise.all([redis.hgetall(continueKey(pseudonym)), redis.hgetall(quotaKey(day, pseudonym))]);
  const continues = new Map<string, number>();
  for (const [c, until] of Object.entries(cont)) if (Number(until) > now) continues.set(c, Number(until));
  const quotaMinutesUsed = new Map<string, number>();
  for (const [c, n] of Object.entries(quota)) quotaMinutesUsed.set(c, Number(n));
  return { continues, quotaMinutesUsed };
}

interface CachedPerson {
  day: string;
  fetchedAt: number;
  continues: Map<string, number>;
  quotaMinutesUsed: Map<string, number>;
  loading: boolean;
}

export interface PersonStateCacheOptions {
  timezone: string;
  /** a person's continues and quota minutes are re-read when older than this */
  refreshMs?: number;
  /** all exceptions are re-read this often even without a message (a missed message heals) */
  exceptionsRefreshMs?: number;
  maxPeople?: number;
  onError?: (e: Error) => void;
}

/**
 * The proxy's synchronous view of per-person state. Exceptions arrive by pub/sub within
 * milliseconds and lapse by their expiry time at decision time, so no restart or message is needed
 * for them to end.
 */
export class PersonStateCache {
  private exceptionsByPerson = new Map<string, ExceptionGrant[]>();
  private people = new Map<string, CachedPerson>();
  private sub: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly refreshMs: number;
  private readonly maxPeople: number;

  constructor(private readonly redis: Redis, private readonly opts: PersonStateCacheOptions) {
    this.refreshMs = opts.refreshMs ?? 5_000;
    this.maxPeople = opts.maxPeople ?? 20_000;
  }

  async start(): Promise<void> {
    this.sub = this.redis.duplicate();
    // the subscription's connection errors repeat while Redis is away: passed on rate-limited
    const limiter = new ErrorLogLimiter();
    this.sub.on('error', (e) => {
      const n = limiter.note(Date.now());
      if (n) this.opts.onError?.(n.suppressed ? new Error(`${e.message} (${n.suppressed} more since the last report)`) : e);
    });
    this.sub.on('message', (_channel: string, message: string) => {
      if (message.startsWith('person:')) {
        const p = this.people.get(message.slice(7));
        if (p) p.fetchedAt = 0;
        this.refreshPerson(message.slice(7));
      } else {
        void this.reloadExceptions();
      }
    });
    await this.sub.subscribe(CHANNELS.exceptionsChanged);
    await this.reloadExceptions();
    this.timer = setInterval(() => void this.reloadExceptions(), this.opts.exceptionsRefreshMs ?? 30_000);
    this.timer.unref();
  }

  private reloadSeq = 0;

  async reloadExceptions(): Promise<void> {
    // reloads can overlap (several messages at once): only the latest one's answer is kept
    const seq = ++this.reloadSeq;
    try {
      const list = await listExceptions(this.redis);
      if (seq !== this.reloadSeq) return;
      const next = new Map<string, ExceptionGrant[]>();
      for (const g of list) {
        const arr = next.get(g.userPseudonym);
        if (arr) arr.push(g);
        else next.set(g.userPseudonym, [g]);
      }
      this.exceptionsByPerson = next;
    } catch (e) {
      this.opts.onError?.(e as Error);
    }
  }

  /** The state to pass into decide(); never waits (a stale or missing entry is refreshed in the background). */
  get(pseudonym: string, at = new Date()): PersonState {
    const exceptions = this.exceptionsByPerson.get(pseudonym) ?? [];
    const day = localDay(at, this.opts.timezone);
    let p = this.people.get(pseudonym);
    if (!p || p.day !== day || Date.now() - p.fetchedAt > this.refreshMs) {
      if (!p || p.day !== day) {
        p = { day, fetchedAt: 0, continues: p?.continues ?? new Map(), quotaMinutesUsed: new Map(), loading: false };
        this.remember(pseudonym, p);
      }
      this.refreshPerson(pseudonym);
    }
    return { exceptions, continues: p.continues, quotaMinutesUsed: p.quotaMinutesUsed };
  }

  /** Waits for a fresh read of one person (for the first request of someone on a quota or warn rule). */
  async load(pseudonym: string, at = new Date()): Promise<PersonState> {
    const day = localDay(at, this.opts.timezone);
    const s = await readPersonState(this.redis, pseudonym, day);
    this.remember(pseudonym, { day, fetchedAt: Date.now(), ...s, loading: false });
    return this.get(pseudonym, at);
  }

  async recordContinue(pseudonym: string, category: string, minutes: number, now = Date.now()): Promise<number> {
    const until = await recordContinue(this.redis, pseudonym, category, minutes, now);
    this.get(pseudonym, new Date(now));
    (this.people.get(pseudonym)!.continues).set(category, until);
    return until;
  }

  async addQuotaUsage(pseudonym: string, category: string, at = new Date()): Promise<number> {
    const used = await addQuotaUsage(this.redis, { pseudonym, category, at, timezone: this.opts.timezone });
    this.get(pseudonym, at);
    const p = this.people.get(pseudonym)!;
    p.quotaMinutesUsed.set(category, Math.max(used, p.quotaMinutesUsed.get(category) ?? 0));
    return used;
  }

  private remember(pseudonym: string, p: CachedPerson): void {
    this.people.delete(pseudonym);
    this.people.set(pseudonym, p);
    if (this.people.size > this.maxPeople) this.people.delete(this.people.keys().next().value!);
  }

  private refreshPerson(pseudonym: string): void {
    const p = this.people.get(pseudonym);
    if (!p || p.loading) return;
    p.loading = true;
    readPersonState(this.redis, pseudonym, p.day).then((s) => {
      p.continues = s.continues;
      p.quotaMinutesUsed = s.quotaMinutesUsed;
      p.fetchedAt = Date.now();
    }, (e: Error) => this.opts.onError?.(e)).finally(() => { p.loading = false; });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.sub) {
      this.sub.disconnect();
      this.sub = null;
    }
  }
}
