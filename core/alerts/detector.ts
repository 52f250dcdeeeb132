import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { AlertMailer } from './mail.ts';
import { watchedCategories, windowsToCheck, type BlockedAttempt } from './rules.ts';
import type { AlertStore } from './store.ts';

// Raises alerts from live traffic. The ingester calls `check` with the blocked attempts of each
// batch it has just stored (so every proxy's and every worker's events pass here exactly once, and a
// re-stored batch is harmless: counts come from the stored events). For each window those attempts
// fall in, the stored count is compared with the threshold; a window at or past it writes an alert
// row when its count grew. The first time an alert is raised it is mailed, once across ingesters
// (a Redis SET NX marks it sent).

const MAILED_KEY = (id: string) => `fairwatch:alerts:mailed:${id}`;
/** longer than the longest window, so a late batch of the same day does not mail again */
const MAILED_TTL_SECONDS = 3 * 86_400;
/** a batch can touch many windows (a backlog after an outage): checked in slices of this many */
const WINDOWS_PER_CHECK = 500;

export interface AlertDetectorOptions {
  config: Config;
  alerts: AlertStore;
  redis: Redis;
  mail: AlertMailer | null;
  log: Logger;
  now?: () => number;
}

export class AlertDetector {
  /** categories some group is alerted on: the ingester passes only attempts in these */
  readonly categories: ReadonlySet<string>;
  raised = 0;

  constructor(private readonly o: AlertDetectorOptions) {
    this.categories = watchedCategories(o.config.policy.alerts);
  }

  async check(attempts: readonly BlockedAttempt[]): Promise<void> {
    if (attempts.length === 0 || this.categories.size === 0) return;
    const windows = windowsToCheck(attempts, this.o.config.policy.alerts, this.o.config.organisation.timezone);
    for (let i = 0; i < windows.length; i += WINDOWS_PER_CHECK) {
      const slice = windows.slice(i, i + WINDOWS_PER_CHECK);
      const reached = (await this.o.alerts.count(slice)).filter((c) => c.attempts >= c.window.threshold);
      if (reached.length === 0) continue;
      const stored = await this.o.alerts.storedCounts(reached.map((c) => c.window.id));
      const grown = reached.filter((c) => c.attempts > (stored.get(c.window.id) ?? 0));
      await this.o.alerts.write(grown, (this.o.now ?? Date.now)());
      for (const c of grown.filter((g) => !stored.has(g.window.id))) {
        this.raised++;
        this.o.log.info({ alert: c.window.id, category: c.window.category, period: c.window.kind, attempts: c.attempts }, 'alert raised');
        if (!this.o.mail) continue;
        const first = await this.o.redis.set(MAILED_KEY(c.window.id), '1', 'EX', MAILED_TTL_SECONDS, 'NX').catch(() => 'OK');
        if (first === 'OK') {
          // not awaited: a slow mail server must not hold up ingestion (the mailer logs its failures)
          void this.o.mail({ category: c.window.category, kind: c.window.kind, from: c.window.from, to: c.window.to, attempts: c.attempts, threshold: c.window.threshold });
        }
      }
    }
  }
}
