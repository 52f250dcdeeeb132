import { randomUUID } from 'node:crypto';
import type { Store } from '../../core/storage/clickhouse.ts';

// Run records in fairwatch.report_runs: one row per state change, the latest (updated_at) wins.

export type RunStatus = 'running' | 'ok' | 'failed' | 'skipped';
export type RunTrigger = 'scheduled' | 'catch-up' | 'on-demand' | 'baseline';

export interface RunRecord {
  run_id: string; job: string; period_from: string; period_to: string; trigger: RunTrigger; status: RunStatus;
  report_id: string; runner: string; error: string; started_at: string; updated_at: string;
}

const ch = (t: number | string) => new Date(t).toISOString().slice(0, 23).replace('T', ' ');

export class RunLog {
  constructor(private readonly store: Store, private readonly runner: string) {}

  async begin(job: string, period: { from: number; to: number }, trigger: RunTrigger): Promise<RunRecord> {
    const now = ch(Date.now());
    const r: RunRecord = { run_id: randomUUID(), job, period_from: ch(period.from), period_to: ch(period.to), trigger, status: 'running', report_id: '', runner: this.runner, error: '', started_at: now, updated_at: now };
    await this.store.insert('report_runs', [r]);
    return r;
  }

  async finish(r: RunRecord, status: RunStatus, fields: { report_id?: string; error?: string } = {}): Promise<RunRecord> {
    // updated_at must move forward even within one millisecond of `begin`
    const next = { ...r, ...fields, status, updated_at: ch(Math.max(Date.now(), Date.parse(r.updated_at.replace(' ', 'T') + 'Z') + 1)) };
    await this.store.insert('report_runs', [next]);
    return next;
  }

  /** End of the newest period of `job` that ran (or was marked as the baseline), or null. */
  async lastDone(job: string): Promise<number | null> {
    const row = await this.store.one<{ to: string; n: number }>(
      `SELECT max(period_to) AS to, count() AS n FROM ${this.store.database}.report_runs FINAL WHERE job = {job:String} AND status IN ('ok', 'skipped')`, { job });
    if (!row || Number(row.n) === 0) return null;
    return Date.parse(row.to.replace(' ', 'T') + 'Z');
  }

  async isDone(job: string, periodFrom: number): Promise<boolean> {
    const row = await this.store.one<{ n: number }>(
      `SELECT count() AS n FROM ${this.store.database}.report_runs FINAL WHERE job = {job:String} AND period_from = {from:DateTime64(3)} AND status = 'ok'`,
      { job, from: ch(periodFrom) });
    return Number(row?.n ?? 0) > 0;
  }

  async list(job?: string, limit = 100): Promise<RunRecord[]> {
    return this.store.rows<RunRecord>(
      `SELECT * FROM ${this.store.database}.report_runs FINAL WHERE {job:String} = '' OR job = {job:String} ORDER BY started_at DESC LIMIT {limit:UInt32}`,
      { job: job ?? '', limit });
  }
}
