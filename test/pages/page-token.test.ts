import { createLogger } from '../../core/log.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { PageTokens, spendToken, tokenSpent, type PageTokenErrorCode } from '../../core/identity/page-token.ts';
import { connectRedis, ManagedRedis } from '../../core/storage/redis.ts';
import { tempDir } from '../helpers/tmp.ts';

const key = Buffer.alloc(32, 1);
let now = Date.parse('2026-11-23T10:00:00Z');
const tokens = new PageTokens(key, () => now);
const base = { purpose: 'exception' as const, eventId: 'ev-1', pseudonym: 'p-alice', category: 'gambling', host: 'bet.test' };

function code(fn: () => unknown): PageTokenErrorCode | 'none' {
  try {
    fn();
    return 'none';
  } catch (e) {
    return (e as { code: PageTokenErrorCode }).code;
  }
}

describe('page tokens', () => {
  it('verify what they were issued for and carry the claims', () => {
    const t = tokens.issue({ ...base, ttlMinutes: 10 });
    expect(tokens.verify(t, { purpose: 'exception', eventId: 'ev-1', pseudonym: 'p-alice' })).toMatchObject({ ...base, expiresAt: now / 1000 + 600 });
  });

  it('cannot be used for another event, person or purpose', () => {
    const t = tokens.issue(base);
    expect(code(() => tokens.verify(t, { purpose: 'exception', eventId: 'ev-2' }))).toBe('FW_TOKEN_EVENT');
    expect(code(() => tokens.verify(t, { purpose: 'exception', pseudonym: 'p-bob' }))).toBe('FW_TOKEN_PERSON');
    expect(code(() => tokens.verify(t, { purpose: 'accident' }))).toBe('FW_TOKEN_PURPOSE');
  });

  it('expire', () => {
    const t = tokens.issue({ ...base, ttlMinutes: 5 });
    now += 5 * 60_000 - 1000;
    expect(code(() => tokens.verify(t, { purpose: 'exception' }))).toBe('none');
    now += 1000;
    expect(code(() => tokens.verify(t, { purpose: 'exception' }))).toBe('FW_TOKEN_EXPIRED');
  });

  it('refuse any edit, a foreign key and garbage', () => {
    const t = tokens.issue(base);
    const [body, sig] = t.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    const edited = Buffer.from(JSON.stringify({ ...claims, pseudonym: 'p-bob' })).toString('base64url');
    expect(code(() => tokens.verify(`${edited}.${sig}`, { purpose: 'exception' }))).toBe('FW_TOKEN_TAMPERED');
    const flipped = sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + sig.at(-1);
    expect(code(() => tokens.verify(`${body}.${flipped}`, { purpose: 'exception' }))).toBe('FW_TOKEN_TAMPERED');
    const other = new PageTokens(Buffer.alloc(32, 2), () => now);
    expect(code(() => other.verify(t, { purpose: 'exception' }))).toBe('FW_TOKEN_TAMPERED');
    for (const bad of ['', 'abc', 'a.b.c', '.', `${body}.`, 'x'.repeat(5000) + '.y']) {
      expect(code(() => tokens.verify(bad, { purpose: 'exception' }))).toMatch(/FW_TOKEN_(MALFORMED|TAMPERED)/);
    }
  });

  it('a short key is refused', () => {
    expect(() => new PageTokens(Buffer.alloc(8))).toThrow(/at least 32 bytes/);
  });
});

describe('single use (real Redis)', () => {
  const tmp = tempDir();
  let server: ManagedRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await ManagedRedis.start(tmp.dir);
    redis = connectRedis(server.url, createLogger('test'));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
    tmp.cleanup();
  });

  it('a token is spent once; the second use is refused and the key expires with the token', async () => {
    const real = new PageTokens(key);
    const claims = real.verify(real.issue({ ...base, ttlMinutes: 2 }), { purpose: 'exception' });
    expect(await tokenSpent(redis, claims)).toBe(false);
    await spendToken(redis, claims);
    expect(await tokenSpent(redis, claims)).toBe(true);
    await expect(spendToken(redis, claims)).rejects.toMatchObject({ code: 'FW_TOKEN_USED' });
    const ttl = await redis.ttl(`fairwatch:page-token:used:${claims.nonce}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120);
    // another token for the same event is a separate use
    const second = real.verify(real.issue(base), { purpose: 'exception' });
    await spendToken(redis, second);
  });
});
