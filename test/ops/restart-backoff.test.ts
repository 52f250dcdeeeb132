import { describe, expect, it } from 'vitest';
import { RESTART_BACKOFF_MS, RestartBackoff, STABLE_MS } from '../../core/ops/restart-backoff.ts';

// The restart rhythm the managed redis-server and clamd share (pure).

describe('RestartBackoff', () => {
  it('steps up while the process keeps dying, stays at the last step, and starts over after a stable run', () => {
    const b = new RestartBackoff();
    b.up(0);
    const waits = [b.died(1_000)];
    for (let i = 0; i < 8; i++) waits.push(b.retry());
    expect(waits).toEqual([...RESTART_BACKOFF_MS, 30_000, 30_000]);
    // a quick death after a restart continues the climb; one after a stable run starts over
    b.up(100_000);
    expect(b.died(100_500)).toBe(30_000);
    b.up(200_000);
    expect(b.died(200_000 + STABLE_MS)).toBe(RESTART_BACKOFF_MS[0]);
  });

  it('counts restarts, and those of the last hour', () => {
    const b = new RestartBackoff();
    b.restarted(0);
    b.restarted(3_000_000);
    b.restarted(3_500_000);
    expect(b.counts(4_000_000)).toEqual({ restarts: 3, restartsLastHour: 2 });
  });
});
