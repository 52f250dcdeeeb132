// The restart rhythms of what fairwatch supervises. Pure.
// - RestartBackoff (the managed redis-server and clamd): quick at first, slower while one keeps
//   dying, quick again once it has stayed up a while.
// - QuickRestart (the proxy's worker process and worker threads): replaced at once, since browsing
//   waits on them, but no more than about once a second while they keep dying.

export const RESTART_BACKOFF_MS: readonly number[] = [200, 500, 1000, 2000, 5000, 10_000, 30_000];
/** Up this long: the next death starts the backoff from its first step again. */
export const STABLE_MS = 60_000;
const HOUR_MS = 3_600_000;

export class RestartBackoff {
  private failures = 0;
  private upSince = 0;
  private readonly restarts: number[] = [];

  /** The process is up (first start or restart) at `at`. */
  up(at: number): void {
    this.upSince = at;
  }

  /** A restart succeeded at `at` (counted for health). */
  restarted(at: number): void {
    this.restarts.push(at);
  }

  /** The wait before the next start after the process died at `at`. */
  died(at: number): number {
    if (at - this.upSince >= STABLE_MS) this.failures = 0;
    return this.retry();
  }

  /** The wait before trying again after a restart that failed. */
  retry(): number {
    return RESTART_BACKOFF_MS[Math.min(this.failures++, RESTART_BACKOFF_MS.length - 1)]!;
  }

  counts(now: number): { restarts: number; restartsLastHour: number } {
    return { restarts: this.restarts.length, restartsLastHour: this.restarts.filter((t) => t >= now - HOUR_MS).length };
  }
}

/** The wait before replacing a proxy worker that died at `now`: none, unless several died lately. */
export class QuickRestart {
  private recent: number[] = [];

  delay(now: number): number {
    this.recent = this.recent.filter((t) => now - t < 10_000);
    this.recent.push(now);
    return this.recent.length > 3 ? 1000 : 0;
  }
}
