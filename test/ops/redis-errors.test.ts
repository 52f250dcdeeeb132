import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorLogLimiter } from '../../core/storage/redis-errors.ts';
import { connectRedis, ManagedRedis } from '../../core/storage/redis.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';

// A Redis client's connection errors reach the log: the first at once, then one line per interval
// with the count of the ones in between.

const tmp = tempDir('fw-redis-errors-');
afterAll(() => tmp.cleanup());

describe('ErrorLogLimiter', () => {
  it('logs the first error, stays quiet within the interval, then logs with the count it skipped', () => {
    const l = new ErrorLogLimiter(30_000);
    expect(l.note(1_000)).toEqual({ suppressed: 0 });
    expect(l.note(2_000)).toBeNull();
    expect(l.note(30_999)).toBeNull();
    expect(l.note(31_000)).toEqual({ suppressed: 2 });
    expect(l.note(31_001)).toBeNull();
    expect(l.note(100_000)).toEqual({ suppressed: 1 });
  });
});

describe('a Redis client while Redis is away', () => {
  it('logs the outage once through the logger, naming the client', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const out = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
    const log = pino({ level: 'info' }, out);
    const redis = await ManagedRedis.start(tmp.dir);
    const client = connectRedis(redis.url, log, { retryStrategy: () => 50 });
    try {
      expect(await client.ping()).toBe('PONG');
      expect(lines).toEqual([]);
      await redis.stop();
      // reconnect attempts every 50 ms fail: several errors, one line
      await pollUntil(() => lines.length, (n) => n > 0, 15_000, 50);
      await new Promise((r) => setTimeout(r, 500));
      const redisLines = lines.filter((l) => l.redisClient === 'connection');
      expect(redisLines).toHaveLength(1);
      expect(redisLines[0]).toMatchObject({ level: 40, suppressed: 0 });
      expect(String(redisLines[0]!.msg)).toMatch(/^redis connection: .*ECONNREFUSED/);
    } finally {
      client.disconnect();
      await redis.stop().catch(() => undefined);
    }
  });
});
