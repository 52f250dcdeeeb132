import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../../core/config/schema.ts';
import type { Logger } from '../../core/log.ts';
import { counter } from '../../core/metrics.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { saveBuiltReport } from '../../core/reports/payload.ts';
import { JOBS, type JobDef, type JobName } from './jobs.ts';
import { tryLock } from './lock.ts';
import { completedPeriodsSince, periodContaining, previousPeriod, type Period } from './periods.ts';
import { RunLog, type RunTrigger } from './runs.ts';

// Runs the report jobs on their cron schedules (node-cron, in the organisation's time zone). Every
// tick and every start does the same thing: run each completed period not yet run, oldest first, so
// a missed tick (process stopped, machine off) is caught up at the next start. Each period is run
// under a Redis lock and re-checked against the run log once locked, so with several analysers
// exactly one builds each report.

const LOCK_TTL_MS = 30 * 60_000;
const runsTotal = counter('fairwatch_analyser_runs_total', 'Report runs by job and outcome', ['job', 'outcome']);

export interface SchedulerDeps {
  store: Store;
  redis: Redis;
  config: Config;
  masterKey: Buffer;
  log: Logger;
  runner?: string;
  /** called after each report built by its schedule (not at catch-up: a restart must not send a month of mail) */
  afterReport?: (job: string, period: { from: number; to: number }, reportId: string) => Promise<void>;
}

export type PeriodOutcome = { outcome: 'ok'; reportId: string } | { outcome: 'locked' | 'already-run' } | { outcome: 'failed'; error: string };

export class AnalyserScheduler {
  readonly runs: RunLog;
  private tasks: ScheduledTask[] = [];
  private busy: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: SchedulerDeps) {
    this.runs = new RunLog(d.store, d.runner ?? `${hostname()}:${process.pid}`);
  }

  private get tz() { return this.d.config.organisation.timezone; }

  job(name: JobName): JobDef {
    const j = JOBS.find((x) => x.name === name);
    if (!j) throw new Error(`unknown job ${name}`);
    return j;
  }

  /** Builds and stores the report of one period, unless another runner holds it or it already ran. */
  async runPeriod(job: JobDef, period: Period, trigger: RunTrigger): Promise<PeriodOutcome> {
    const lock = await tryLock(this.d.redis, `fairwatch:lock:analyser:${job.name}:${period.from}`, LOCK_TTL_MS);
    if (!lock) {
      runsTotal.inc({ job: job.name, outcome: 'locked' });
      return { outcome: 'locked' };
    }
    try {
      if (await this.runs.isDone(job.name, period.from)) return { outcome: 'already-run' };
      const run = await this.runs.begin(job.name, period, trigger);
      try {
        const built = await job.build({ store: this.d.store, config: this.d.config }, { from: new Date(period.from).toISOString(), to: new Date(period.to).toISOString() });
        const reportId = await saveBuiltReport(this.d.store, this.d.masterKey, built, this.d.config.organisation.name);
        await this.runs.finish(run, 'ok', { report_id: reportId });
        runsTotal.inc({ job: job.name, outcome: 'ok' });
        this.d.log.info({ job: job.name, trigger, from: new Date(period.from).toISOString(), reportId }, 'report built');
        if (this.d.afterReport && trigger === 'scheduled') await this.d.afterReport(job.name, period, reportId).catch((e) => this.d.log.warn({ err: (e as Error).message }, 'after-report step failed'));
        return { outcome: 'ok', reportId };
      } catch (e) {
        const error = (e as Error).message;
        await this.runs.finish(run, 'failed', { error }).catch(() => undefined);
        runsTotal.inc({ job: job.name, outcome: 'failed' });
        this.d.log.error({ job: job.name, err: error }, 'report run failed');
        return { outcome: 'failed', error };
      }
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  /**
   * Runs every completed period of `job` since the last one done. With no history at all, the
   * last completed period is recorded as the baseline (fairwatch was not running then) and nothing
   * is built, so a fresh install does not produce empty reports at its first start.
   */
  async runDue(job: JobDef, now: number, trigger: RunTrigger): Promise<PeriodOutcome[]> {
    const last = await this.runs.lastDone(job.name);
    if (last === null) {
      const p = previousPeriod(job.period, periodContaining(job.period, now, this.tz), this.tz);
      const r = await this.runs.begin(job.name, p, 'baseline');
      await this.runs.finish(r, 'skipped');
      return [];
    }
    const out: PeriodOutcome[] = [];
    for (const p of completedPeriodsSince(job.period, last, now, this.tz, this.d.config.analyser.catchUpMax)) {
      out.push(await this.runPeriod(job, p, trigger));
    }
    return out;
  }

  /** Catch-up at start: every job's missed periods. */
  async catchUp(now = Date.now()): Promise<Record<string, PeriodOutcome[]>> {
    const out: Record<string, PeriodOutcome[]> = {};
    for (const j of JOBS) out[j.name] = await this.serial(() => this.runDue(j, now, 'catch-up'));
    return out;
  }

  /** Jobs run one at a time in this process: report building is CPU-heavy and the store is shared. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }

  start(): void {
    for (const j of JOBS) {
      const expr = j.cron(this.d.config);
      if (!cron.validate(expr)) throw new Error(`analyser.schedules: "${expr}" for ${j.name} is not a valid cron expression`);
      this.tasks.push(cron.schedule(expr, () => this.serial(() => this.runDue(j, Date.now(), 'scheduled')).catch((e) => {
        this.d.log.error({ job: j.name, err: (e as Error).message }, 'scheduled run failed');
      }), { timezone: this.tz, name: `fairwatch-${j.name}`, noOverlap: true }));
    }
  }

  async stop(): Promise<void> {
    for (const t of this.tasks) await t.stop();
    this.tasks = [];
    await this.busy;
  }
}
