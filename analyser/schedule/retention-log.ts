import cron from 'node-cron';
import type { Config } from '../../core/config/schema.ts';
import type { Logger } from '../../core/log.ts';
import type { Platform } from '../../core/platform.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { retentionReport } from '../../core/privacy/retention-report.ts';

// Retention itself is the ClickHouse TTL (applied at merges); the analyser says at start and every
// night, at the nightly audit's time, what it deletes and what legal holds keep from it, and why.

export async function logRetention(p: { store: Store; config: Config; log: Logger }): Promise<void> {
  const r = await retentionReport(p.store, p.config.retention);
  p.log.info({ holds: r.held.length }, `retention: ${r.policy}; ${r.held.length ? `${r.held.length} legal hold${r.held.length === 1 ? '' : 's'} open` : 'nothing held past retention'}`);
  for (const h of r.held) p.log.info({ holdId: h.id }, `retention: ${h.text}`);
}

export function scheduleRetentionLog(p: Platform): () => Promise<void> {
  const run = () => logRetention(p).catch((e) => p.log.warn({ err: (e as Error).message }, 'retention: could not read the legal holds'));
  const first = run();
  const task = cron.schedule(p.config.analyser.schedules.nightlyAudit, run, { timezone: p.config.organisation.timezone, name: 'fairwatch-retention-log', noOverlap: true });
  return async () => {
    await task.stop();
    await first;
  };
}
