import cron, { type ScheduledTask } from 'node-cron';
import { describeChange, syncFromDirectory } from '../../core/identity/directory-sync.ts';
import { counter } from '../../core/metrics.ts';
import type { Platform } from '../../core/platform.ts';
import { tryLock } from './lock.ts';

// identity.ldap.syncCron: `users sync` on its schedule in the analyser (the role that runs the
// scheduled work). One analyser runs it at a time (Redis lock). Each change is an audit row
// (directory-sync.ts); a directory that cannot be reached is a log line and the next run tries again.

const runs = counter('fairwatch_directory_sync_runs_total', 'scheduled directory syncs by outcome', ['outcome']);
const LOCK_MS = 30 * 60_000;

export async function runDirectorySyncJob(p: Platform): Promise<number | null> {
  const ldap = p.config.identity.ldap;
  if (!ldap) return null;
  const lock = await tryLock(p.redis, 'fairwatch:lock:directory-sync', LOCK_MS);
  if (!lock) return null;
  try {
    const { plan, applied } = await syncFromDirectory(ldap, { users: p.users, store: p.store, redis: p.redis, actorRole: 'analyser' }, false);
    runs.inc({ outcome: 'ok' });
    p.log.info({ applied, changes: plan.changes.map(describeChange), notes: plan.notes }, `directory sync: ${applied} change${applied === 1 ? '' : 's'}`);
    return applied;
  } catch (e) {
    runs.inc({ outcome: 'failed' });
    p.log.error({ err: (e as Error).message }, 'directory sync failed (the next scheduled run tries again)');
    return null;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/** Schedules the sync when identity.ldap.syncCron is set; returns its stop. */
export function scheduleDirectorySync(p: Platform): (() => Promise<void>) | null {
  const expr = p.config.identity.ldap?.syncCron;
  if (!expr) return null;
  let running: Promise<unknown> = Promise.resolve();
  const task: ScheduledTask = cron.schedule(expr, () => {
    running = runDirectorySyncJob(p);
    return running;
  }, { timezone: p.config.organisation.timezone, name: 'fairwatch-directory-sync', noOverlap: true });
  return async () => {
    await task.stop();
    await running;
  };
}
