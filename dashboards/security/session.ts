import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Role } from '../../core/identity/users.ts';

// Console sessions in Redis. The cookie holds 256 random bits; Redis holds only their SHA-256, so a
// copy of Redis does not hand out live sessions. Idle expiry is the key's TTL (renewed on use);
// absolute expiry is checked against the creation time.

export interface Session {
  userId: string;
  role: Role;
  createdAt: number;
  /** last password/TOTP check: approve and export need a recent one */
  authAt: number;
  /** per-session token every HTML form carries */
  csrf: string;
}

export interface SessionTimes {
  idleMinutes: number;
  maxHours: number;
}

const key = (id: string) => `fairwatch:session:${createHash('sha256').update(id).digest('hex')}`;
const userIndex = (userId: string) => `fairwatch:sessions-of:${userId}`;

export class Sessions {
  constructor(private readonly redis: Redis, private readonly times: SessionTimes, private readonly now: () => number = Date.now) {}

  async create(userId: string, role: Role): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = { userId, role, createdAt: t, authAt: t, csrf: randomBytes(32).toString('base64url') };
    await this.redis.set(key(id), JSON.stringify(session), 'EX', this.times.idleMinutes * 60);
    await this.redis.sadd(userIndex(userId), key(id));
    return { id, session };
  }

  /** The live session for a cookie value, renewing its idle timer; null when absent or expired. */
  async get(id: string | undefined): Promise<Session | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const raw = await this.redis.get(key(id));
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (this.now() - s.createdAt > this.times.maxHours * 3_600_000) {
      await this.redis.del(key(id));
      return null;
    }
    await this.redis.expire(key(id), this.times.idleMinutes * 60);
    return s;
  }

  async reauthenticated(id: string, s: Session): Promise<void> {
    s.authAt = this.now();
    await this.redis.set(key(id), JSON.stringify(s), 'KEEPTTL');
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id) await this.redis.del(key(id));
  }

  /** Ends every session of a user (disabled account, changed role). */
  async destroyAllOf(userId: string): Promise<void> {
    const keys = await this.redis.smembers(userIndex(userId));
    if (keys.length) await this.redis.del(...keys);
    await this.redis.del(userIndex(userId));
  }
}
