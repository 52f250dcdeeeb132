import type { Redis } from 'ioredis';

// Devices that refused the organisation CA during an inspected tunnel's handshake: a Redis hash of
// client pseudonym → the last time (epoch ms). Proxy workers write it and read it (a device is
// spliced on every worker, not only the one that saw the alert); the console and `doctor` read it
// so IT sees which devices still lack the CA. Pseudonyms only, never an address.

export const UNTRUSTED_CA_KEY = 'fairwatch:untrusted-ca';

export async function recordUntrustedCa(redis: Redis, clientPseudonym: string, at = Date.now()): Promise<void> {
  await redis.hset(UNTRUSTED_CA_KEY, clientPseudonym, String(at));
}

/** When this device last refused the CA (epoch ms), or null. */
export async function untrustedCaSeen(redis: Redis, clientPseudonym: string): Promise<number | null> {
  const v = await redis.hget(UNTRUSTED_CA_KEY, clientPseudonym);
  return v === null ? null : Number(v);
}

/** Devices seen refusing the CA since `sinceMs`, newest first. */
export async function untrustedCaDevices(redis: Redis, sinceMs = 0): Promise<Array<{ clientPseudonym: string; lastSeen: number }>> {
  const all = await redis.hgetall(UNTRUSTED_CA_KEY);
  return Object.entries(all)
    .map(([clientPseudonym, v]) => ({ clientPseudonym, lastSeen: Number(v) }))
    .filter((d) => Number.isFinite(d.lastSeen) && d.lastSeen >= sinceMs)
    .sort((a, b) => b.lastSeen - a.lastSeen);
}
