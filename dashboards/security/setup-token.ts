import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

// First run: a one-time link that lets whoever started fairwatch create the first director. Redis
// holds only the token's hash; taking it is atomic (GETDEL), so it works exactly once. The link is
// written to a 0600 file in the data directory, not printed: logs and terminals are read by more
// people than the account that runs fairwatch.

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

export const setupLinkPath = (dataDir: string) => join(dataDir, 'setup-link.txt');

/** Writes the link to the data directory, readable by this account only; returns the file's path. */
export function writeSetupLink(dataDir: string, url: string): string {
  const file = setupLinkPath(dataDir);
  // removed first: an existing file would keep its old mode
  rmSync(file, { force: true });
  writeFileSync(file, `${url}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

/** A director exists: an old link file is only clutter (its token expired or was used). */
export function removeSetupLink(dataDir: string): void {
  rmSync(setupLinkPath(dataDir), { force: true });
}
