import { describe, expect, it } from 'vitest';
import { workerEnv, workerExecArgv } from '../../proxy/cluster.ts';

describe('the proxy worker process V8 flags', () => {
  it.each([
    // threads, cores, pool
    [2, 2, 1],
    [1, 2, 1],
    [2, 4, 2],
    [4, 8, 4],
    [1, 16, 4],
    [8, 4, 1],
  ])('%i threads on %i cores: a V8 helper pool of %i', (threads, cores, pool) => {
    expect(workerExecArgv(threads, cores)).toEqual([`--v8-pool-size=${pool}`, '--expose-gc']);
  });
});

describe('the proxy worker process environment', () => {
  it('holds the C allocator to an arena per worker thread and two more, and passes everything else on', () => {
    expect(workerEnv(2, { PATH: '/usr/bin', FAIRWATCH_DATA_DIR: '/var/lib/fairwatch' })).toEqual({ PATH: '/usr/bin', FAIRWATCH_DATA_DIR: '/var/lib/fairwatch', MALLOC_ARENA_MAX: '4' });
    expect(workerEnv(8, {}).MALLOC_ARENA_MAX).toBe('10');
  });

  it("keeps the operator's own MALLOC_ARENA_MAX", () => {
    expect(workerEnv(2, { MALLOC_ARENA_MAX: '16' }).MALLOC_ARENA_MAX).toBe('16');
  });
});
