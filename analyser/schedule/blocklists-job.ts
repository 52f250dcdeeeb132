import cron, { type ScheduledTask } from 'node-cron';
import { auditLogFor } from '../../core/audit/log.ts';
import { counter } from '../../core/metrics.ts';
import type { Platform } from '../../core/platform.ts';
import { publishPolicyReload } from '../../core/policy/holder.ts';
import { runScheduledUpdate, type ScheduledUpdateOutcome } from '../../core/policy/scheduled-update.ts';
import { tryLock } from './lock.ts';

// blocklists.update on its cron schedule in the analyser. One analyser runs it (Redis lock); the
// result is an audit row and a log line, and the proxies are told to reload (they also watch the
// directory). The lists directory is the one this process sees (FAIRWATCH_BLOCKLISTS): the proxy
// must read the same one, as under `fairwatch start`.

const runs = counter('fairwatch_blocklists_updates_total', 'scheduled blocklist updates by outcome', ['outcome']);
const LOCK_MS = 60 * 60_000;

export async function runBlocklistUpdateJob(p: Platform, source: string): Promise<ScheduledUpdateOutcome | null> {
  const lock = await tryLock(p.redis, 'fairwatch:lock:blocklists-update', LOCK_MS);
  if (!lock) return null;
  try {
    const r = await runScheduledUpdate(p.config, p.runtime.blocklistsDir, source);
    runs.inc({ outcome: r.outcome });
    if (r.outcome === 'ok') p.log.info({ source, categories: r.categories, entries: r.entries }, `blocklists: ${r.message}`);
    else p.log.error({ source, outcome: r.outcome }, `blocklists: ${r.message}`);
    await auditLogFor(p.store, p.redis).append({ actor: 'system', actorRole: 'analyser', action: 'blocklists-update', target: source, reason: r.message, outcome: r.outcome });
    if (r.outcome !== 'refused') await publishPolicyReload(p.redis, `blocklists ${r.outcome}`).catch(() => 0);
    return r;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/** Schedules the update when blocklists.update is configured; returns its stop. */
export function scheduleBlocklistUpdate(p: Platform): (() => Promise<void>) | null {
  const u = p.config.blocklists.update;
  if (!u) return null;
  let running: Promise<unknown> = Promise.resolve();
  const task: ScheduledTask = cron.schedule(u.schedule, () => {
    running = runBlocklistUpdateJob(p, u.source).catch((e) => p.log.error({ err: (e as Error).message }, 'blocklists: scheduled update failed'));
    return running;
  }, { timezone: p.config.organisation.timezone, name: 'fairwatch-blocklists-update', noOverlap: true });
  return async () => {
    await task.stop();
    await running;
  };
}
