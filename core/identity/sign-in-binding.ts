import type { Redis } from 'ioredis';

// Sign-in networks (shared or hot-desk machines): a person signs in on the console and the device
// address is bound to them for identity.signInHours. The key is the client pseudonym, never the raw
// address; the value names the person because the proxy must decide by user and group. Sign-out
// deletes the binding; Redis expiry ends it otherwise.

export const bindingKey = (clientPseudonym: string) => `fairwatch:sign-in:${clientPseudonym}`;

export interface SignInBinding {
  /** normalised user name */
  user: string;
  group: string;
  /** ISO time the binding ends */
  until: string;
}

export async function bindSignIn(redis: Redis, clientPseudonym: string, who: { user: string; group: string }, hours: number, now = new Date()): Promise<SignInBinding> {
  const seconds = Math.max(60, Math.round(hours * 3600));
  const binding: SignInBinding = { user: who.user, group: who.group, until: new Date(now.getTime() + seconds * 1000).toISOString() };
  await redis.set(bindingKey(clientPseudonym), JSON.stringify(binding), 'EX', seconds);
  return binding;
}

/** The person this device is bound to, or null (Redis only: safe in proxy workers). */
export async function signedInAs(redis: Redis, clientPseudonym: string): Promise<SignInBinding | null> {
  const raw = await redis.get(bindingKey(clientPseudonym));
  if (!raw) return null;
  try {
    const b = JSON.parse(raw) as SignInBinding;
    return typeof b.user === 'string' && typeof b.group === 'string' ? b : null;
  } catch {
    return null;
  }
}

/** Ends the binding; true when there was one. */
export async function signOut(redis: Redis, clientPseudonym: string): Promise<boolean> {
  return (await redis.del(bindingKey(clientPseudonym))) === 1;
}

/**
 * Ends every shared-computer sign-in of one person (a leaver): the bindings are keyed by device, so
 * they are found by a bounded scan. Returns how many ended.
 */
export async function signOutEverywhere(redis: Redis, user: string, maxRounds = 10_000): Promise<number> {
  let cursor = '0';
  let ended = 0;
  for (let round = 0; round < maxRounds; round++) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', bindingKey('*'), 'COUNT', 500);
    for (const key of keys) {
      const raw = await redis.get(key);
      if (!raw) continue;
      try {
        if ((JSON.parse(raw) as SignInBinding).user === user && (await redis.del(key)) === 1) ended++;
      } catch { /* not a binding */ }
    }
    cursor = next;
    if (cursor === '0') break;
  }
  return ended;
}
