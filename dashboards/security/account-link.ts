import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// One-time account links: IT or a director adds a person or resets their password or
// authenticator, and the person opens the link to choose a password (and, for roles with a second
// factor, to see their new authenticator secret once). Redis holds only the token's hash with the
// account and purpose; taking it is atomic (GETDEL), so a link works once, for three days.

export type LinkPurpose = 'new' | 'password' | 'authenticator';
export const ACCOUNT_LINK_SECONDS = 3 * 86_400;
const key = (token: string) => 'fairwatch:account-link:' + createHash('sha256').update(token).digest('hex');
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export async function issueAccountLink(redis: Redis, userId: string, purpose: LinkPurpose): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await redis.set(key(token), JSON.stringify({ userId, purpose }), 'EX', ACCOUNT_LINK_SECONDS);
  return token;
}

export async function peekAccountLink(redis: Redis, token: string): Promise<{ userId: string; purpose: LinkPurpose } | null> {
  if (!TOKEN.test(token)) return null;
  const v = await redis.get(key(token));
  return v ? JSON.parse(v) as { userId: string; purpose: LinkPurpose } : null;
}

/** Consumes the link; the account and purpose for the first caller only. */
export async function takeAccountLink(redis: Redis, token: string): Promise<{ userId: string; purpose: LinkPurpose } | null> {
  if (!TOKEN.test(token)) return null;
  const v = await redis.getdel(key(token));
  return v ? JSON.parse(v) as { userId: string; purpose: LinkPurpose } : null;
}
