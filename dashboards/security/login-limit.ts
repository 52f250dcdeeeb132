import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { normaliseUsername } from '../../core/identity/pseudonym.ts';

// Brute-force defence: failures are counted per account and per client address in Redis. Five
// failures on one account lock it for 15 minutes (whatever address they come from); thirty from one
// address lock that address. Counters hold hashes, never the user name. The account key uses the
// same normalisation as the directory lookup (NFKC, trim, lower case): " leo", "LEO" and full-width
// forms are one account to the lookup, so they must be one counter here.

export const ACCOUNT_LIMIT = 5;
export const ADDRESS_LIMIT = 30;
export const WINDOW_SECONDS = 15 * 60;

const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);
const accountKey = (username: string) => `fairwatch:login-fail:user:${h(normaliseUsername(username))}`;
const addressKey = (ip: string) => `fairwatch:login-fail:ip:${h(ip)}`;

export class LoginLimiter {
  constructor(private readonly redis: Redis) {}

  /** Seconds until the account or address may try again; 0 when it may try now. */
  async lockedFor(username: string, ip: string): Promise<number> {
    const [a, b] = await Promise.all([this.redis.get(accountKey(username)), this.redis.get(addressKey(ip))]);
    const wait: number[] = [];
    if (Number(a ?? 0) >= ACCOUNT_LIMIT) wait.push(await this.redis.ttl(accountKey(username)));
    if (Number(b ?? 0) >= ADDRESS_LIMIT) wait.push(await this.redis.ttl(addressKey(ip)));
    return wait.length ? Math.max(1, ...wait) : 0;
  }

  async failed(username: string, ip: string): Promise<void> {
    for (const k of [accountKey(username), addressKey(ip)]) {
      const n = await this.redis.incr(k);
      // the window starts at the first failure and is renewed once the account locks
      if (n === 1 || n === ACCOUNT_LIMIT || n === ADDRESS_LIMIT) await this.redis.expire(k, WINDOW_SECONDS);
    }
  }

  async succeeded(username: string): Promise<void> {
    await this.redis.del(accountKey(username));
  }
}
