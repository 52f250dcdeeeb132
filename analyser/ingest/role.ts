import { AlertDetector } from '../../core/alerts/detector.ts';
import { alertMailer } from '../../core/alerts/mail.ts';
import { AlertStore } from '../../core/alerts/store.ts';
import { CONSOLE_URL_KEY, configuredConsoleUrl } from '../../core/console-url.ts';
import type { RoleDef } from '../../core/role.ts';
import { Ingester } from './ingester.ts';

const DRAIN_AT_STOP_MS = 3000;

// The `ingest` role: in `start` it runs inside the primary (the embedded engine allows one process
// per data directory); `fairwatch ingest` alone is for server mode or a data directory nothing else
// holds.
export const ingestRole: RoleDef = {
  needs: { store: true, redis: true },
  async start(p) {
    const log = p.log.child({ part: 'ingest' });
    // the console publishes the address it listens on; publicUrl wins (core/console-url.ts)
    const consoleUrl = async () => p.config.console.publicUrl ?? (await p.redis.get(CONSOLE_URL_KEY).catch(() => null)) ?? configuredConsoleUrl(p.config);
    const detector = new AlertDetector({
      config: p.config, alerts: new AlertStore(p.store), redis: p.redis, log,
      mail: alertMailer(p.config, consoleUrl, (err) => log.warn({ err }, 'alert mail failed')),
    });
    const ingester = new Ingester({
      store: p.store, redis: p.redis, pipeline: p.config.pipeline, log,
      afterStored: detector.categories.size ? (batch) => detector.check(batch.blockedAttempts(detector.categories)) : undefined,
    });
    await ingester.start();
    const { stream, batchRows, batchMs } = p.config.pipeline;
    return {
      summary: `ingest: Redis stream ${stream} → ClickHouse events (group ${ingester.group}, batches of ${batchRows} events or ${batchMs} ms)`,
      // at shutdown the proxy (stopped first) has just flushed into the stream: store that too
      stop: () => ingester.stop(DRAIN_AT_STOP_MS),
    };
  },
};
