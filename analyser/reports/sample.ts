import { createHmac, randomBytes } from 'node:crypto';

// The spot-check draw: K pseudonyms and a time window, chosen with a CSPRNG. The only randomness
// is a 32-byte seed from the operating system's CSPRNG; everything else is derived from it with
// HMAC-SHA256, so the sample is reproducible from the seed recorded in the report (anyone can check
// that the people checked were not picked by hand).

export interface SpotCheckSample {
  seed: string;
  pseudonyms: string[];
  window: { from: number; to: number };
}

export const newSeed = () => randomBytes(32).toString('hex');

/** Unbiased integer in [0, n) from the HMAC stream (rejection sampling). */
function drawInt(seed: Buffer, label: string, n: number): number {
  if (n <= 1) return 0;
  const limit = 2 ** 48 - (2 ** 48 % n);
  for (let i = 0; i < 1000; i++) {
    const x = createHmac('sha256', seed).update(`${label}:${i}`).digest().readUIntBE(0, 6);
    if (x < limit) return x % n;
  }
  throw new Error('spot-check draw: no unbiased value in 1000 tries');
}

/**
 * Draws `k` of `candidates` (order-independent: they are sorted first) and a window of
 * `windowMs` inside [from, to), starting on a whole minute.
 */
export function spotCheckSample(seedHex: string, candidates: readonly string[], k: number, period: { from: number; to: number }, windowMs: number): SpotCheckSample {
  const seed = Buffer.from(seedHex, 'hex');
  if (seed.length < 16) throw new Error('spot-check seed must be at least 16 bytes of hex');
  const pool = [...new Set(candidates)].sort();
  // partial Fisher–Yates: the first k positions become the sample
  const take = Math.min(k, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + drawInt(seed, `pick:${i}`, pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  const span = Math.max(0, period.to - period.from - windowMs);
  const startMinute = drawInt(seed, 'window', Math.floor(span / 60_000) + 1);
  const from = period.from + startMinute * 60_000;
  return { seed: seedHex, pseudonyms: pool.slice(0, take).sort(), window: { from, to: Math.min(period.to, from + windowMs) } };
}
