import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// First run: a one-time link that lets whoever started fairwatch create the first director. Redis
// holds only the token's hash; taking it is atomic (GETDEL), so it works exactly once.

const KEY_PREFIX = 'fairwatch:setup-token:';
const key = (token: string) => KEY_PREFIX + createHash('sha256').update(token).digest('hex');
export const SETUP_TOKEN_SECONDS = 3600;

export async function issueSetupToken(redis: Redis): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await redis.set(key(token), '1', 'EX', SETUP_TOKEN_SECONDS);
  return token;
}

export async function setupTokenValid(redis: Redis, token: string): Promise<boolean> {
  return /^[A-Za-z0-9_-]{43}$/.test(token) && (await redis.exists(key(token))) === 1;
}

/** Consumes the token; true only for the first caller. */
export async function takeSetupToken(redis: Redis, token: string): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return false;
  return (await redis.getdel(key(token))) !== null;
}
