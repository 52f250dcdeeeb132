import type { Logger } from '../log.ts';

// While Redis is away ioredis emits an 'error' for every reconnect attempt. Each client logs the
// first at once, then at most one line per interval carrying the count of those it did not log, so
// an outage is in the log without flooding it.

export const REDIS_ERROR_LOG_INTERVAL_MS = 30_000;

/** Pure: which errors to log. */
export class ErrorLogLimiter {
  private lastAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(private readonly intervalMs = REDIS_ERROR_LOG_INTERVAL_MS) {}

  /** An error at `at` (ms): null to stay quiet, else how many were not logged since the last line. */
  note(at: number): { suppressed: number } | null {
    if (at - this.lastAt < this.intervalMs) {
      this.suppressed++;
      return null;
    }
    const out = { suppressed: this.suppressed };
    this.lastAt = at;
    this.suppressed = 0;
    return out;
  }
}

interface ErrorEmitter {
  on(event: 'error', listener: (e: Error) => void): unknown;
}

/** Logs `client`'s connection errors as `redis <name>: <message>`, rate-limited. */
export function logRedisErrors(client: ErrorEmitter, log: Logger, name: string, opts: { intervalMs?: number; now?: () => number } = {}): void {
  const limiter = new ErrorLogLimiter(opts.intervalMs);
  const now = opts.now ?? Date.now;
  client.on('error', (e) => {
    const n = limiter.note(now());
    if (n) log.warn({ redisClient: name, err: e.message, suppressed: n.suppressed }, `redis ${name}: ${e.message}`);
  });
}
