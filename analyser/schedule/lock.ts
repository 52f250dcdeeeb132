import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// One runner across instances: a job slot is claimed with SET NX PX in Redis and released only by
// its holder (compare-and-delete in Lua), so a slow runner's lock is never freed by another.

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export interface HeldLock { key: string; token: string; release(): Promise<void> }

export async function tryLock(redis: Redis, key: string, ttlMs: number): Promise<HeldLock | null> {
  const token = randomBytes(16).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  return { key, token, release: async () => { await redis.eval(RELEASE, 1, key, token); } };
}
