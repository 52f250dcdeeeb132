import { describe, expect, it } from 'vitest';
import { pipelineHealth, type PipelineFacts } from '../../core/ops/pipeline-health.ts';

// The sentences doctor and /health print for each condition (pure; the conditions
// themselves are caused for real in supervision.test.ts and limits.test.ts).

const now = Date.parse('2026-03-02T10:00:00Z');
const base: PipelineFacts = {
  now, dataDir: '/var/lib/fairwatch',
  managed: { up: true, restarts: 0, restartsLastHour: 0, lastExit: null, logFile: '/var/lib/fairwatch/redis/redis.log' },
  redisAnswers: true, redisMemory: { used: 10 << 20, max: 256 << 20, policy: 'noeviction' },
  spool: { events: 0, bytes: 0, capBytes: 1024 << 20 }, dropped: 0, spoolWriteFailing: false,
  refusedMemory: 0, refusedDisk: 0, ingestFailingSince: 0, ingestDiskFull: false,
  disk: { free: 50 * 2 ** 30, total: 100 * 2 ** 30 },
};
const item = (f: Partial<PipelineFacts>, key: string) => pipelineHealth({ ...base, ...f }).find((i) => i.key === key)!;

describe('pipeline health in words', () => {
  it('all well: every item ok', () => {
    expect(pipelineHealth(base).every((i) => i.level === 'ok')).toBe(true);
  });
  it('Redis restarted 3 times in the last hour; 412 events waiting in the spool, draining', () => {
    const f = { managed: { ...base.managed!, restarts: 3, restartsLastHour: 3, lastExit: { at: '2026-03-02T09:58:00Z', code: null, signal: 'SIGKILL' } }, spool: { events: 412, bytes: 300_000, capBytes: 1024 << 20 } };
    const r = item(f, 'redis');
    expect(r.level).toBe('warn');
    expect(r.value).toBe('Redis restarted 3 times in the last hour (last exit: SIGKILL at 2026-03-02T09:58:00Z); up now');
    expect(r.action).toMatch(/OOM killer \(dmesg\).*redis\.log/);
    expect(item(f, 'spool').value).toBe('412 events waiting in the spool, draining (0 MB, 0% of pipeline.spoolMaxMB)');
  });
  it('Redis down: the spool waits for it, and says what to do', () => {
    const f = { managed: { ...base.managed!, up: false, lastExit: { at: 'x', code: 1, signal: null } }, redisAnswers: false, redisMemory: null, spool: { events: 9, bytes: 5000, capBytes: 1 << 20 } };
    expect(item(f, 'redis').value).toMatch(/^Redis is down and being restarted \(last exit: code 1 at x\)/);
    expect(item(f, 'spool').value).toMatch(/^9 events waiting in the spool, waiting for Redis/);
  });
  it('Redis full, inserts refused on a full disk, events lost: bad, with what to do', () => {
    const full = item({ redisMemory: { used: 256 << 20, max: 256 << 20, policy: 'noeviction' }, refusedMemory: 120 }, 'redis-memory');
    expect(full.level).toBe('bad');
    expect(full.value).toMatch(/^Redis is full: 256 MB of its 256 MB limit .* it refuses new events, which go to the disk spool \(120 events refused since start\)/);
    const ins = item({ ingestFailingSince: Math.floor((now - 240_000) / 1000), ingestDiskFull: true }, 'ingest');
    expect(ins.value).toBe('ClickHouse has refused inserts for 4 minutes (the disk is full); events wait in the Redis stream');
    expect(ins.action).toMatch(/free space on the disk of \/var\/lib\/fairwatch/);
    expect(item({ dropped: 37 }, 'dropped').value).toBe('37 events lost since start (the spool was full or could not be written)');
    expect(item({ spoolWriteFailing: true }, 'spool').level).toBe('bad');
    expect(item({ disk: { free: 10 << 20, total: 100 * 2 ** 30 } }, 'disk').value).toMatch(/^the data disk is nearly full: 10 MB free/);
  });
  it('an external Redis with an evicting policy is flagged', () => {
    expect(item({ managed: null, redisMemory: { used: 1 << 20, max: 0, policy: 'allkeys-lru' } }, 'redis-memory').action).toMatch(/noeviction/);
  });
});
