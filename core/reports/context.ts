import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/clickhouse.ts';
import type { BandPolicy } from '../timeonline/bands.ts';
import { FairwatchError } from '../errors.ts';

// What a report builder needs: the store, the config, and the period it covers.

export interface BuildContext {
  store: Store;
  config: Config;
}

export interface PeriodIso { from: string; to: string }

export function bandPolicy(config: Config): BandPolicy {
  const t = config.policy.time;
  return { timezone: config.organisation.timezone, workingDays: t.workingDays, workingHours: t.workingHours, breaks: t.breaks, bankHolidays: t.bankHolidays };
}

/** 'YYYY-MM-DD HH:MM:SS' in UTC, what ClickHouse DateTime parameters take. */
export const chSeconds = (t: number | string) => new Date(t).toISOString().slice(0, 19).replace('T', ' ');
export const chMillis = (t: number | string) => new Date(t).toISOString().slice(0, 23).replace('T', ' ');

export const mb = (bytes: number) => Math.round((bytes / 1_048_576) * 100) / 100;
export const hours = (minutes: number) => Math.round((minutes / 60) * 100) / 100;
export const pct = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0);

export class ReportInputError extends FairwatchError {
  constructor(message: string) {
    super('FW_REPORT_INPUT', message);
  }
}

export function checkPeriod(p: PeriodIso): { from: number; to: number } {
  const from = Date.parse(p.from);
  const to = Date.parse(p.to);
  if (Number.isNaN(from)) throw new ReportInputError(`--from "${p.from}": not an ISO date/time (e.g. 2026-03-01 or 2026-03-01T00:00:00Z)`);
  if (Number.isNaN(to)) throw new ReportInputError(`--to "${p.to}": not an ISO date/time (e.g. 2026-04-01 or 2026-04-01T00:00:00Z)`);
  if (to <= from) throw new ReportInputError(`--to (${p.to}) must be after --from (${p.from})`);
  return { from, to };
}
