import type { Config } from '../../core/config/schema.ts';
import { buildAudit } from '../reports/audit.ts';
import type { BuildContext, PeriodIso } from '../../core/reports/context.ts';
import type { BuiltReport } from '../../core/reports/model.ts';
import { buildSpotCheck } from '../reports/spot-check.ts';
import type { PeriodKind } from './periods.ts';

// The scheduled jobs: each covers the last completed period of its kind when its cron fires.

export type JobName = 'nightly-audit' | 'weekly-audit' | 'monthly-audit' | 'spot-check';

export interface JobDef {
  name: JobName;
  period: PeriodKind;
  cron(config: Config): string;
  build(ctx: BuildContext, period: PeriodIso): Promise<BuiltReport>;
}

export const JOBS: JobDef[] = [
  { name: 'nightly-audit', period: 'day', cron: (c) => c.analyser.schedules.nightlyAudit, build: (ctx, p) => buildAudit(ctx, p, 'nightly') },
  { name: 'weekly-audit', period: 'week', cron: (c) => c.analyser.schedules.weeklyAudit, build: (ctx, p) => buildAudit(ctx, p, 'weekly') },
  { name: 'monthly-audit', period: 'month', cron: (c) => c.analyser.schedules.monthlyAudit, build: (ctx, p) => buildAudit(ctx, p, 'monthly') },
  { name: 'spot-check', period: 'week', cron: (c) => c.analyser.schedules.spotCheck, build: (ctx, p) => buildSpotCheck(ctx, p) },
];
