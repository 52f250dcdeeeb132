import { createLogger } from '../../core/log.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from '../../core/platform.ts';
import {
  addQuotaUsage, grantException, listExceptions, PersonStateCache, readPersonState, recordContinue, revokeException,
} from '../../core/policy/person-state.ts';
import { connectRedis } from '../../core/storage/redis.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { req, testSnapshot } from './policy-config.ts';
import type { PolicySnapshot } from '../../core/policy/engine.ts';

let platform: Platform;
let cleanup: () => Promise<void>;
let engine: PolicySnapshot;
beforeAll(async () => {
  ({ platform, cleanup } = await openTestPlatform({ store: false, redis: true }));
  engine = await testSnapshot();
});
afterAll(async () => { await cleanup(); });

const TZ = 'Europe/London';

async function until(what: string, check: () => boolean, ms: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

function worker(pseudonym: string, category: string, instants: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'quota-worker.ts'), platform.redisUrl, pseudonym, category, JSON.stringify(instants)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('quota worker timed out')); }, 30_000);
    child.on('exit', (code) => { clearTimeout(timer); if (code === 0) resolve(Number(out.trim())); else reject(new Error(`quota worker exited ${code}: ${err}`)); });
  });
}

describe('quota minutes across processes', () => {
  it('two proxy processes counting the same person count each minute once', async () => {
    const p = platform.pseudonyms.user('alice');
    const minute = (m: number, s = 0) => new Date(Date.UTC(2026, 10, 24, 10, m, s)).toISOString();
    // process A: minutes 0-9 (several requests in some); process B: minutes 5-14
    const a = [...Array(10).keys()].flatMap((m) => [minute(m, 1), minute(m, 30)]);
    const b = [...Array(10).keys()].map((m) => minute(m + 5, 45));
    await Promise.all([worker(p, 'sports', a), worker(p, 'sports', b)]);
    const state = await readPersonState(platform.redis, p, '2026-11-24');
    expect(state.quotaMinutesUsed.get('sports')).toBe(15);
    // another category and another day are separate
    expect(await addQuotaUsage(platform.redis, { pseudonym: p, category: 'shopping', at: new Date(minute(0)), timezone: TZ })).toBe(1);
    expect(await addQuotaUsage(platform.redis, { pseudonym: p, category: 'sports', at: new Date('2026-11-25T10:00:00Z'), timezone: TZ })).toBe(1);
  });

  it('the cache feeds the count into decide until the quota is used up', async () => {
    const p = platform.pseudonyms.user('bob');
    const cache = new PersonStateCache(platform.redis, { timezone: TZ });
    await cache.start();
    try {
      const at = (m: number) => new Date(Date.UTC(2026, 10, 24, 10, m));
      let d = engine.decide(req('staff', 'https://espn.com/', at(0).toISOString(), { state: cache.get(p, at(0)) }));
      expect(d.action).toBe('quota');
      for (let m = 0; m < 30; m++) await cache.addQuotaUsage(p, 'sports', at(m));
      d = engine.decide(req('staff', 'https://espn.com/', at(30).toISOString(), { state: cache.get(p, at(30)) }));
      expect([d.action, d.quotaExhausted, d.quotaMinutesUsed]).toEqual(['block', true, 30]);
    } finally {
      await cache.stop();
    }
  });
});

describe('exceptions', () => {
  it('reach every proxy\'s cache within 2 seconds and lapse at expiry without a restart', async () => {
    const p = platform.pseudonyms.user('carol');
    // two "proxies", each with its own Redis connections
    const r1 = connectRedis(platform.redisUrl, createLogger('test'));
    const r2 = connectRedis(platform.redisUrl, createLogger('test'));
    const c1 = new PersonStateCache(r1, { timezone: TZ, exceptionsRefreshMs: 600_000 });
    const c2 = new PersonStateCache(r2, { timezone: TZ, exceptionsRefreshMs: 600_000 });
    await c1.start();
    await c2.start();
    try {
      const expiresAt = Date.now() + 2500;
      await grantException(platform.redis, { id: 'x1', userPseudonym: p, category: 'social_networks', expiresAt });
      await until('exception on proxy 1', () => c1.get(p).exceptions.length === 1, 2000);
      await until('exception on proxy 2', () => c2.get(p).exceptions.length === 1, 2000);
      expect(c2.get(p).exceptions[0]).toMatchObject({ id: 'x1', expiresAt });
      const engineAt = (ms: number) => engine.decide({ ...req('staff', 'https://facebook.com/', '2026-11-24T10:00:00Z'), at: new Date(ms), state: c1.get(p) });
      // the grant is judged against the request's time (real time here; the band does not matter
      // because the exception is checked before the rules)
      const before = engineAt(expiresAt - 1);
      const after = engineAt(expiresAt);
      expect(before.rule).toBe('exception:x1');
      expect(after.rule).not.toBe('exception:x1');
      // revoking reaches both caches
      await grantException(platform.redis, { id: 'x2', userPseudonym: p, host: 'example.com', expiresAt: Date.now() + 60_000 });
      await until('second exception on proxy 2', () => c2.get(p).exceptions.some((g) => g.id === 'x2'), 2000);
      expect(await revokeException(platform.redis, 'x2')).toBe(true);
      await until('revocation on proxy 1', () => c1.get(p).exceptions.every((g) => g.id !== 'x2'), 2000);
      await until('revocation on proxy 2', () => c2.get(p).exceptions.every((g) => g.id !== 'x2'), 2000);
      // expired grants are pruned from Redis when read
      await until('x1 expired', () => Date.now() > expiresAt, 5000);
      expect(engineAt(Date.now()).rule).not.toBe('exception:x1');
      expect((await listExceptions(platform.redis)).map((g) => g.id)).not.toContain('x1');
    } finally {
      await c1.stop();
      await c2.stop();
      r1.disconnect();
      r2.disconnect();
    }
  });

  it('refuses a grant keyed by a name, with both or neither target, or already expired', async () => {
    const p = platform.pseudonyms.user('dave');
    await expect(grantException(platform.redis, { id: 'a', userPseudonym: 'dave', category: 'games', expiresAt: Date.now() + 1000 })).rejects.toThrow(/pseudonym/);
    await expect(grantException(platform.redis, { id: 'b', userPseudonym: p, expiresAt: Date.now() + 1000 })).rejects.toThrow(/exactly one of category or host/);
    await expect(grantException(platform.redis, { id: 'c', userPseudonym: p, category: 'games', host: 'x.example', expiresAt: Date.now() + 1000 })).rejects.toThrow(/exactly one/);
    await expect(grantException(platform.redis, { id: 'd', userPseudonym: p, category: 'games', expiresAt: Date.now() - 1 })).rejects.toThrow(/future/);
  });
});

describe('warn "continue"', () => {
  it('a continue recorded on one proxy reaches another and allows the category for N minutes', async () => {
    const p = platform.pseudonyms.user('erin');
    const r2 = connectRedis(platform.redisUrl, createLogger('test'));
    const other = new PersonStateCache(r2, { timezone: TZ, refreshMs: 600_000 });
    await other.start();
    try {
      expect(other.get(p).continues.size).toBe(0);
      // a Tuesday in working hours, in the future so the grant is live by the real clock too
      const now = Date.parse('2030-01-08T10:00:00Z');
      await recordContinue(platform.redis, p, 'audio-video', 30, now);
      await until('continue on the other proxy', () => other.get(p).continues.has('audio-video'), 2000);
      const d = (iso: string) => engine.decide(req('staff', 'https://youtube.com/watch', iso, { state: other.get(p) }));
      expect(other.get(p).continues.get('audio-video')).toBe(now + 30 * 60_000);
      expect(d('2030-01-08T10:29:59Z').action).toBe('allow');
      expect(d('2030-01-08T10:30:00Z').action).toBe('warn');
    } finally {
      await other.stop();
      r2.disconnect();
    }
  });
});
