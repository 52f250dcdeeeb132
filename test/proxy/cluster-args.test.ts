import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../proxy/cluster.ts';

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
