import type { Redis } from 'ioredis';
import { verify } from 'otplib';

// TOTP check with replay protection: a code (time step) accepted once for a user is never accepted
// again, so a code seen over someone's shoulder is useless after its first use.

const lastStepKey = (userId: string) => `fairwatch:totp-step:${userId}`;

export async function checkTotp(redis: Redis, userId: string, secret: string, token: string): Promise<boolean> {
  if (!secret || !/^\d{6}$/.test(token)) return false;
  const last = Number((await redis.get(lastStepKey(userId))) ?? -1);
  let result: { valid: boolean; timeStep?: number };
  try {
    result = await verify({ secret, token, epochTolerance: 30 }) as { valid: boolean; timeStep?: number };
  } catch {
    return false;
  }
  if (!result.valid || result.timeStep === undefined || result.timeStep <= last) return false;
  await redis.set(lastStepKey(userId), String(result.timeStep), 'EX', 600);
  return true;
}
