import { ROLES } from '../cli/roles.ts';
import { loadKey } from '../core/keys.ts';
import { AnalyserScheduler } from './schedule/scheduler.ts';

// The analyser role: report schedules (node-cron) and catch-up of missed runs. Retention needs no
// job: it is ClickHouse TTL, brought in line with config at every start by the migration runner.

ROLES.analyser = {
  needs: { store: true, redis: true },
  async start(p) {
    const scheduler = new AnalyserScheduler({
      store: p.store, redis: p.redis, config: p.config, log: p.log,
      masterKey: loadKey(p.runtime.dataDir, 'report-master', p.env),
    });
    scheduler.start();
    // in the background: start-up must not wait for a month of missed reports
    const caught = scheduler.catchUp().then((r) => {
      const built = Object.values(r).flat().filter((x) => x.outcome === 'ok').length;
      if (built) p.log.info({ built }, 'caught up missed report runs');
    }).catch((e) => p.log.error({ err: (e as Error).message }, 'catch-up failed'));
    const s = p.config.analyser.schedules;
    return {
      summary: `analyser: audits (${s.nightlyAudit} / ${s.weeklyAudit} / ${s.monthlyAudit}), spot check (${s.spotCheck}) in ${p.config.organisation.timezone}`,
      async stop() {
        await caught;
        await scheduler.stop();
      },
    };
  },
};
