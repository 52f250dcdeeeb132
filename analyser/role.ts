import type { RoleDef } from '../core/role.ts';
import type { Platform } from '../core/platform.ts';
import { configuredConsoleUrl, CONSOLE_URL_KEY } from '../core/console-url.ts';
import { loadKey } from '../core/keys.ts';
import { summaryMailer } from '../core/privacy/summary.ts';
import { scheduleBlocklistUpdate } from './schedule/blocklists-job.ts';
import { scheduleDirectorySync } from './schedule/directory-sync-job.ts';
import { scheduleRetentionLog } from './schedule/retention-log.ts';
import { AnalyserScheduler } from './schedule/scheduler.ts';

// The analyser role: report schedules (node-cron) and catch-up of missed runs, the nightly blocklist
// update and the directory sync (identity.ldap.syncCron) when configured, and a nightly log of
// what retention keeps. Retention itself needs no job: it is ClickHouse TTL, brought in line with
// config at every start by the migration runner.

export const analyserRole: RoleDef = {
  needs: { store: true, redis: true },
  async start(p) {
    const scheduler = new AnalyserScheduler({
      store: p.store, redis: p.redis, config: p.config, log: p.log,
      masterKey: loadKey(p.runtime.dataDir, 'report-master', p.env),
      afterReport: summaryLink(p),
    });
    scheduler.start();
    const stopLists = scheduleBlocklistUpdate(p);
    const stopSync = scheduleDirectorySync(p);
    const stopRetentionLog = scheduleRetentionLog(p);
    // in the background: start-up must not wait for a month of missed reports
    const caught = scheduler.catchUp().then((r) => {
      const built = Object.values(r).flat().filter((x) => x.outcome === 'ok').length;
      if (built) p.log.info({ built }, 'caught up missed report runs');
    }).catch((e) => p.log.error({ err: (e as Error).message }, 'catch-up failed'));
    const s = p.config.analyser.schedules;
    const lists = p.config.blocklists.update;
    const sync = p.config.identity.ldap?.syncCron;
    return {
      summary: `analyser: audits (${s.nightlyAudit} / ${s.weeklyAudit} / ${s.monthlyAudit}), spot check (${s.spotCheck})${lists ? `, blocklists update (${lists.schedule})` : ''}${sync ? `, directory sync (${sync})` : ''} in ${p.config.organisation.timezone}`,
      async stop() {
        await stopLists?.();
        await stopSync?.();
        await stopRetentionLog();
        await caught;
        await scheduler.stop();
      },
    };
  },
};

/** The summary mailer with the console address the console published (or the configured one). */
function summaryLink(p: Platform) {
  let url = configuredConsoleUrl(p.config);
  const refresh = async () => {
    if (p.config.console.publicUrl) return;
    const v = await p.redis.get(CONSOLE_URL_KEY).catch(() => null);
    if (v && /^https?:\/\//.test(v)) url = v;
  };
  const send = summaryMailer(p.config, p.store, () => url, (err) => p.log.warn({ err }, 'summary e-mail not sent'));
  if (!send) return undefined;
  return async (job: string, period: { from: number; to: number }, reportId: string) => {
    await refresh();
    await send(job, period, reportId);
  };
}
