import { describe, expect, it } from 'vitest';
import { QuickRestart, RESTART_BACKOFF_MS, RestartBackoff, STABLE_MS } from '../../core/ops/restart-backoff.ts';

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

describe('QuickRestart (proxy workers)', () => {
  it('replaces at once, waits a second once more than three died within ten seconds, and is quick again after a quiet spell', () => {
    const q = new QuickRestart();
    expect([q.delay(0), q.delay(100), q.delay(200)]).toEqual([0, 0, 0]);
    expect(q.delay(300)).toBe(1000);
    expect(q.delay(5000)).toBe(1000);
    expect(q.delay(20_000)).toBe(0);
  });
});
