import { createHash } from 'node:crypto';
import { verifyPassword } from '../core/identity/users.ts';
import { normaliseUsername } from '../core/identity/pseudonym.ts';

// Basic credentials checked against the user directory. argon2id verify costs ~100 ms and 64 MiB
// on purpose, so a success is remembered in memory for identity.authCacheSeconds; the cache key
// covers the stored hash, so a password change (new hash) or a disable (checked on every request)
// takes effect at once. Verifications run a few at a time: a flood of wrong passwords queues
// instead of exhausting memory.

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

const MAX_PARALLEL_VERIFY = 2;
const FAILURE_MEMORY_MS = 5_000;

export class CredentialStore {
  private records = new Map<string, CredentialRecord>();
  private readonly ok = new Map<string, number>();
  private readonly failed = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private running = 0;
  private readonly queue: Array<() => void> = [];
  /** argon2 verifications done (tests check the cache spares them) */
  verifications = 0;

  constructor(records: readonly CredentialRecord[] = [], private readonly cacheMs = 300_000) {
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

  async check(rawUsername: string, password: string): Promise<CheckedUser | null> {
    const username = normaliseUsername(rawUsername);
    const rec = this.records.get(username);
    if (!rec || rec.disabled) return null;
    const key = createHash('sha256').update(`${username}\0${password}\0${rec.passwordHash}`).digest('base64');
    const now = Date.now();
    const okUntil = this.ok.get(key);
    if (okUntil !== undefined && okUntil > now) return { username, group: rec.group };
    const failedUntil = this.failed.get(key);
    if (failedUntil !== undefined && failedUntil > now) return null;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.limited(() => verifyPassword(rec.passwordHash, password)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const good = await pending;
    // the directory may have changed while argon2 ran
    const current = this.records.get(username);
    if (!current || current.disabled || current.passwordHash !== rec.passwordHash) return null;
    if (this.ok.size > 50_000) this.ok.clear();
    if (this.failed.size > 50_000) this.failed.clear();
    if (good) {
      if (this.cacheMs > 0) this.ok.set(key, now + this.cacheMs);
      return { username, group: current.group };
    }
    this.failed.set(key, now + FAILURE_MEMORY_MS);
    return null;
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= MAX_PARALLEL_VERIFY) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    this.verifications++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}
