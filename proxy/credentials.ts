import { createHash } from 'node:crypto';
import { normaliseUsername } from '../core/identity/pseudonym.ts';
import { normaliseIp } from '../core/net/cidr.ts';
import { LocalAuthenticator, type Authenticator, type AuthAnswer, type CredentialRecord } from './authenticators.ts';
import { FailureCounter } from './failure-counter.ts';
import { DEFAULT_AUTH_CACHE_SECONDS } from '../core/config/defaults.ts';

export type { CredentialRecord } from './authenticators.ts';

// Basic credentials checked by a chain of authenticators (authenticators.ts): the local user
// directory, then LDAP / Active Directory when identity.ldap is set. argon2id verify costs ~100 ms
// and 64 MiB on purpose and a directory check is network round trips, so a success is remembered
// in memory for identity.authCacheSeconds. The cache key covers the name, the password and every
// authenticator's fingerprint of the name (the local hash and disabled flag): a local password
// change or disable takes effect at once; a directory password change lets the new password in at
// once, and a directory disable or deletion is seen when the remembered success expires (the check
// is then made again). A remembered success is answered before any limit below: someone already
// browsing never waits behind a flood of guesses.
//
// Against guessing and enumeration:
// - an unknown or disabled name costs the same work as a wrong password: the local step always
//   runs one argon2 verification (a dummy one when the name has no local password), and the
//   directory step makes the same round trips for an unknown name (a bind to a DN that does not
//   exist), so the answer's timing does not say which names exist;
// - failed guesses are counted per client address and per (normalised) user name; past the limit
//   in the window, further checks from that address or for that name get 407 without a
//   verification until the window has passed ('auth-throttled'). A guess repeated with the same
//   password is remembered as failed and neither verified nor counted again (a browser resending a
//   stale password must not lock its user out);
// - checks run a few at a time with a bounded queue, and one client may hold only a few
//   queue places: past that the check is refused at once ('auth-busy') instead of waiting.
//
// The directory unreachable ('directory-unavailable'): not a failed guess (neither counted nor
// remembered). A person whose success is remembered keeps browsing for
// identity.ldap.outageGraceMinutes past the cache period; anyone else gets 407 until it is back.

export interface CheckedUser {
  username: string;
  group: string;
}

/** Why a check did not identify anyone; also the event flag. */
export type CheckRefusal = 'bad-credentials' | 'auth-throttled' | 'auth-busy' | 'directory-unavailable';

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

export interface ChainOptions {
  /** asked after the local directory, in order (LDAP; Kerberos/Negotiate later) */
  directories?: Authenticator[];
  /** how long past the cache a remembered success holds while its directory is unreachable */
  outageGraceMs?: number;
}

interface Remembered {
  until: number;
  graceUntil: number;
  group: string;
  via: string;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = {
  clientFailures: 20, userFailures: 10, windowMs: 5 * 60_000, maxParallel: 2, maxQueued: 32, maxQueuedPerClient: 4,
};

const MAX_REMEMBERED = 50_000;

export class CredentialStore {
  private readonly local: LocalAuthenticator;
  private readonly chain: Authenticator[];
  private readonly outageGraceMs: number;
  private readonly ok = new Map<string, Remembered>();
  private readonly failed = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<{ answer: AuthAnswer; via: string } | 'busy'>>();
  private readonly byClient: FailureCounter;
  private readonly byUser: FailureCounter;
  private readonly limits: AuthLimits;
  private running = 0;
  private readonly queue: Array<{ client: string; go: () => void }> = [];
  private readonly queuedBy = new Map<string, number>();
  /** chain runs done (each costs one argon2 verification, dummy ones included; tests check the cache and limits spare them) */
  verifications = 0;
  /** the most verifications ever waiting at once (tests check the bound) */
  maxQueueSeen = 0;

  constructor(
    records: readonly CredentialRecord[] = [],
    private readonly cacheMs = DEFAULT_AUTH_CACHE_SECONDS * 1000,
    limits: Partial<AuthLimits> = {},
    private readonly now: () => number = Date.now,
    options: ChainOptions = {},
  ) {
    this.limits = { ...DEFAULT_AUTH_LIMITS, ...limits };
    this.byClient = new FailureCounter(this.limits.clientFailures, this.limits.windowMs);
    this.byUser = new FailureCounter(this.limits.userFailures, this.limits.windowMs);
    this.local = new LocalAuthenticator();
    this.chain = [this.local, ...(options.directories ?? [])];
    this.outageGraceMs = options.outageGraceMs ?? 0;
    this.replace(records);
  }

  /** New directory contents (primary → workers after CHANNELS.usersChanged). */
  replace(records: readonly CredentialRecord[]): void {
    this.local.replace(records);
    // keys hold the local fingerprint, so a changed record never matches its old entries; a
    // directory user's remembered success stays (a local change during an outage keeps the grace)
    for (const [k, r] of this.ok) if (r.via === 'local') this.ok.delete(k);
    this.failed.clear();
  }

  /** the directory record of a user (IP-mapped desktops), if any */
  record(username: string): CredentialRecord | undefined {
    return this.local.record(username);
  }

  get size(): number {
    return this.local.size;
  }

  /** verifications waiting for a slot now */
  get queued(): number {
    return this.queue.length;
  }

  private fingerprint(username: string): string {
    return this.chain.map((a) => a.fingerprint(username)).join('\0');
  }

  /** the group to answer for a remembered success (a local user's group as it is now) */
  private rememberedUser(username: string, r: Remembered): CheckOutcome {
    return { user: { username, group: r.via === 'local' ? (this.local.record(username)?.group ?? r.group) : r.group } };
  }

  private isDown(via: string): boolean {
    return this.chain.find((a) => a.name === via)?.down?.() ?? false;
  }

  private async runChain(username: string, password: string): Promise<{ answer: AuthAnswer; via: string }> {
    for (const a of this.chain) {
      const answer = await a.check(username, password);
      if (answer.kind !== 'not-mine') return { answer, via: a.name };
    }
    return { answer: { kind: 'bad' }, via: '' };
  }

  async check(rawUsername: string, password: string, clientIp = ''): Promise<CheckOutcome> {
    const username = normaliseUsername(rawUsername);
    const client = normaliseIp(clientIp);
    const print = this.fingerprint(username);
    // unknown and disabled names share one key space with real ones, so nothing below tells them apart
    const key = createHash('sha256').update(`${username}\0${password}\0${print}`).digest('base64');
    const now = this.now();
    const known = this.ok.get(key);
    if (known && known.until > now) return this.rememberedUser(username, known);
    // its directory is known to be away: the grace is answered without queueing behind it
    if (known && known.graceUntil > now && this.isDown(known.via)) return this.rememberedUser(username, known);
    const failedUntil = this.failed.get(key);
    if (failedUntil !== undefined && failedUntil > now) return { user: null, refused: 'bad-credentials' };
    if (this.byClient.locked(client, now) || this.byUser.locked(username, now)) return { user: null, refused: 'auth-throttled' };
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.limited(client, () => this.runChain(username, password)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const done = await pending;
    if (done === 'busy') return { user: null, refused: 'auth-busy' };
    const { answer, via } = done;
    const at = this.now();
    if (answer.kind === 'unavailable') {
      const still = this.ok.get(key);
      if (still && still.graceUntil > at) return this.rememberedUser(username, still);
      return { user: null, refused: 'directory-unavailable' };
    }
    if (this.ok.size > MAX_REMEMBERED) this.ok.clear();
    if (this.failed.size > MAX_REMEMBERED) this.failed.clear();
    // the local directory may have changed while the check ran
    const unchanged = this.fingerprint(username) === print;
    if (answer.kind === 'ok' && unchanged) {
      if (this.cacheMs > 0) this.ok.set(key, { until: at + this.cacheMs, graceUntil: at + this.cacheMs + this.outageGraceMs, group: answer.group, via });
      this.byUser.clear(username);
      return { user: { username, group: answer.group } };
    }
    // a refusal ends what was remembered for this password (a disabled or deleted directory account)
    this.ok.delete(key);
    if (!this.failed.has(key)) {
      // counted once per distinct guess (concurrent identical requests share one verification)
      this.failed.set(key, at + this.limits.windowMs);
      this.byClient.add(client, at);
      this.byUser.add(username, at);
    }
    return { user: null, refused: 'bad-credentials' };
  }

  /** Runs `fn` within the parallel limit; 'busy' at once when the queue (or this client's share) is full. */
  private async limited<T>(client: string, fn: () => Promise<T>): Promise<T | 'busy'> {
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
