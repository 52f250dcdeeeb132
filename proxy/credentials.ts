import { createHash } from 'node:crypto';
import { verifyNobody, verifyPassword } from '../core/identity/users.ts';
import { normaliseUsername } from '../core/identity/pseudonym.ts';
import { normaliseIp } from '../core/net/cidr.ts';
import { FailureCounter } from './failure-counter.ts';
import { DEFAULT_AUTH_CACHE_SECONDS } from '../core/config/schema.ts';

// Basic credentials checked against the user directory. argon2id verify is slow and memory-hungry
// on purpose, so a success is remembered in memory for identity.authCacheSeconds; the cache key
// covers the stored hash, so a password change (new hash) or a disable (checked on every request)
// takes effect at once. A remembered success is answered before any limit below: someone already
// browsing never waits behind a flood of guesses.
//
// Against guessing and enumeration:
// - an unknown or disabled name costs the same argon2 work as a wrong password (verifyNobody), so
//   the answer's timing does not say which names exist;
// - failed guesses are counted per client address and per (normalised) user name; past the limit
//   in the window, further checks from that address or for that name get 407 without a
//   verification until the window has passed ('auth-throttled'). A guess repeated with the same
//   password is remembered as failed and neither verified nor counted again (a browser resending a
//   stale password must not lock its user out);
// - verifications run a few at a time with a bounded queue, and one client may hold only a few
//   queue places: past that the check is refused at once ('auth-busy') instead of waiting.

/** What the proxy needs of a user record (never the TOTP secret). */
export interface CredentialRecord {
  username: string;
  passwordHash: string;
  group: string;
  disabled: boolean;
}

export interface CheckedUser {
  username: string;
  group: string;
}

/** Why a check did not identify anyone; also the event flag. */
export type CheckRefusal = 'bad-credentials' | 'auth-throttled' | 'auth-busy';

export type CheckOutcome = { user: CheckedUser } | { user: null; refused: CheckRefusal };

export interface AuthLimits {
  /** failed guesses from one client address in a window before it is refused unchecked */
  clientFailures: number;
  /** failed guesses for one user name in a window (whatever the address) */
  userFailures: number;
  /** the counting window, and how long a refusal lasts once a limit is reached */
  windowMs: number;
  /** argon2 verifications running at once */
  maxParallel: number;
  /** verifications waiting for a slot, all clients together */
  maxQueued: number;
  /** waiting verifications one client address may hold */
  maxQueuedPerClient: number;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = {
  clientFailures: 20, userFailures: 10, windowMs: 5 * 60_000, maxParallel: 2, maxQueued: 32, maxQueuedPerClient: 4,
};

const MAX_REMEMBERED = 50_000;

export class CredentialStore {
  private records = new Map<string, CredentialRecord>();
  private readonly ok = new Map<string, number>();
  private readonly failed = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<boolean | 'busy'>>();
  private readonly byClient: FailureCounter;
  private readonly byUser: FailureCounter;
  private readonly limits: AuthLimits;
  private running = 0;
  private readonly queue: Array<{ client: string; go: () => void }> = [];
  private readonly queuedBy = new Map<string, number>();
  /** argon2 verifications done, dummy ones included (tests check the cache and limits spare them) */
  verifications = 0;
  /** the most verifications ever waiting at once (tests check the bound) */
  maxQueueSeen = 0;

  constructor(
    records: readonly CredentialRecord[] = [],
    private readonly cacheMs = DEFAULT_AUTH_CACHE_SECONDS * 1000,
    limits: Partial<AuthLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...DEFAULT_AUTH_LIMITS, ...limits };
    this.byClient = new FailureCounter(this.limits.clientFailures, this.limits.windowMs);
    this.byUser = new FailureCounter(this.limits.userFailures, this.limits.windowMs);
    this.replace(records);
  }

  /** New directory contents (primary → workers after CHANNELS.usersChanged). */
  replace(records: readonly CredentialRecord[]): void {
    this.records = new Map(records.map((r) => [normaliseUsername(r.username), r]));
    this.ok.clear();
    this.failed.clear();
  }

  /** the directory record of a user (IP-mapped desktops), if any */
  record(username: string): CredentialRecord | undefined {
    return this.records.get(normaliseUsername(username));
  }

  get size(): number {
    return this.records.size;
  }

  /** verifications waiting for a slot now */
  get queued(): number {
    return this.queue.length;
  }

  async check(rawUsername: string, password: string, clientIp = ''): Promise<CheckOutcome> {
    const username = normaliseUsername(rawUsername);
    const client = normaliseIp(clientIp);
    const rec = this.records.get(username);
    const usable = rec && !rec.disabled ? rec : undefined;
    // unknown and disabled names share one key space with real ones, so nothing below tells them apart
    const key = createHash('sha256').update(`${username}\0${password}\0${usable?.passwordHash ?? ''}`).digest('base64');
    const now = this.now();
    const okUntil = this.ok.get(key);
    if (usable && okUntil !== undefined && okUntil > now) return { user: { username, group: usable.group } };
    const failedUntil = this.failed.get(key);
    if (failedUntil !== undefined && failedUntil > now) return { user: null, refused: 'bad-credentials' };
    if (this.byClient.locked(client, now) || this.byUser.locked(username, now)) return { user: null, refused: 'auth-throttled' };
    let pending = this.inflight.get(key);
    if (!pending) {
      const hash = usable?.passwordHash;
      pending = this.limited(client, () => (hash ? verifyPassword(hash, password) : verifyNobody(password))).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const good = await pending;
    if (good === 'busy') return { user: null, refused: 'auth-busy' };
    const at = this.now();
    if (this.ok.size > MAX_REMEMBERED) this.ok.clear();
    if (this.failed.size > MAX_REMEMBERED) this.failed.clear();
    // the directory may have changed while argon2 ran
    const current = this.records.get(username);
    const still = usable && current && !current.disabled && current.passwordHash === usable.passwordHash;
    if (good && still) {
      if (this.cacheMs > 0) this.ok.set(key, at + this.cacheMs);
      this.byUser.clear(username);
      return { user: { username, group: current.group } };
    }
    if (!this.failed.has(key)) {
      // counted once per distinct guess (concurrent identical requests share one verification)
      this.failed.set(key, at + this.limits.windowMs);
      this.byClient.add(client, at);
      this.byUser.add(username, at);
    }
    return { user: null, refused: 'bad-credentials' };
  }

  /** Runs `fn` within the parallel limit; 'busy' at once when the queue (or this client's share) is full. */
  private async limited(client: string, fn: () => Promise<boolean>): Promise<boolean | 'busy'> {
    if (this.running >= this.limits.maxParallel) {
      const mine = this.queuedBy.get(client) ?? 0;
      if (this.queue.length >= this.limits.maxQueued || mine >= this.limits.maxQueuedPerClient) return 'busy';
      this.queuedBy.set(client, mine + 1);
      // resumed with the slot of the verification that finished (running stays counted)
      await new Promise<void>((go) => {
        this.queue.push({ client, go });
        this.maxQueueSeen = Math.max(this.maxQueueSeen, this.queue.length);
      });
    } else {
      this.running++;
    }
    this.verifications++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) {
        const left = (this.queuedBy.get(next.client) ?? 1) - 1;
        if (left > 0) this.queuedBy.set(next.client, left);
        else this.queuedBy.delete(next.client);
        next.go();
      } else {
        this.running--;
      }
    }
  }
}
