import nodemailer from 'nodemailer';
import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/clickhouse.ts';

// Name-free summaries by e-mail after each scheduled audit and spot check: organisation-wide
// figures for the period and the one before it (trend), and a link to the console. Read from the
// organisation rollup only (no pseudonyms, hosts or categories in it), so nothing in the mail can
// name or single out a person; the full report stays sealed behind the console's access rules.

export interface SummaryFigures {
  requests: number;
  blocked: number;
  warned: number;
  mbDown: number;
  mbUp: number;
  people: number;
}

export async function summaryFigures(store: Store, fromMs: number, toMs: number): Promise<SummaryFigures> {
  // aliases differ from the column names: an alias named like a column would be read inside the other sums
  const r = await store.one<Record<string, number>>(
    `SELECT sum(requests) AS n_requests, sumIf(requests, action IN ('block', 'quota')) AS n_blocked, sumIf(requests, action = 'warn') AS n_warned,
            round(sum(bytes_down) / 1048576, 1) AS n_down, round(sum(bytes_up) / 1048576, 1) AS n_up, uniqMerge(people) AS n_people
     FROM ${store.database}.rollup_org_hourly
     WHERE hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND hour < toDateTime(intDiv({to:Int64}, 1000), 'UTC')`,
    { from: fromMs, to: toMs });
  return {
    requests: Number(r?.n_requests ?? 0), blocked: Number(r?.n_blocked ?? 0), warned: Number(r?.n_warned ?? 0),
    mbDown: Number(r?.n_down ?? 0), mbUp: Number(r?.n_up ?? 0), people: Number(r?.n_people ?? 0),
  };
}

const LABELS: Array<[keyof SummaryFigures, string]> = [
  ['requests', 'Web requests'], ['blocked', 'Blocked (policy or quota)'], ['warned', 'Warnings shown'],
  ['mbDown', 'MB received'], ['mbUp', 'MB sent'], ['people', 'People using the web'],
];

function trend(now: number, before: number): string {
  if (before === 0) return now === 0 ? 'no change' : 'new (none the period before)';
  const pct = Math.round(((now - before) / before) * 100);
  return pct === 0 ? 'no change' : `${pct > 0 ? 'up' : 'down'} ${Math.abs(pct)}%`;
}

const JOB_TITLE: Record<string, string> = {
  'nightly-audit': 'Nightly audit', 'weekly-audit': 'Weekly audit', 'monthly-audit': 'Monthly audit', 'spot-check': 'Weekly spot check',
};

/** The mail (pure): figures, trend, link; never a name, pseudonym, site or category. */
export function renderSummary(o: { org: string; job: string; fromMs: number; toMs: number; now: SummaryFigures; before: SummaryFigures; consoleUrl: string; reportId: string; timezone: string }): { subject: string; text: string } {
  const day = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: o.timezone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
  const title = JOB_TITLE[o.job] ?? o.job;
  const lines = LABELS.map(([k, label]) => `${label.padEnd(28)} ${String(o.now[k]).padStart(12)}   (${trend(o.now[k], o.before[k])}; before: ${o.before[k]})`);
  const text = [
    `${title} for ${o.org}: ${day(o.fromMs)} to ${day(o.toMs)} (${o.timezone}).`,
    '',
    ...lines,
    '',
    o.job === 'spot-check'
      ? 'The spot check looked at a random sample of people; who they are and what it found is only in the report.'
      : 'Figures are for the whole organisation; the report itself holds the detail.',
    `Sign in to the console to read the report (its access is recorded): ${o.consoleUrl.replace(/\/$/, '')}/reports/${o.reportId}`,
    '',
    'This message holds no names and no sites by design.',
  ].join('\n') + '\n';
  return { subject: `fairwatch: ${title.toLowerCase()} ready (${o.now.requests} requests, ${trend(o.now.requests, o.before.requests)})`, text };
}

export type AfterReport = (job: string, period: { from: number; to: number }, reportId: string) => Promise<void>;

/** The hook the analyser calls after each scheduled report, or null when no mail is configured. */
export function summaryMailer(config: Config, store: Store, consoleUrl: () => string, log: (err: string) => void): AfterReport | null {
  const smtp = config.console.smtp;
  if (!smtp || smtp.summaries === false) return null;
  const transport = nodemailer.createTransport(smtp.url);
  const to = smtp.summaryTo ?? smtp.to;
  return async (job, period, reportId) => {
    try {
      const len = period.to - period.from;
      const [now, before] = [await summaryFigures(store, period.from, period.to), await summaryFigures(store, period.from - len, period.from)];
      const mail = renderSummary({ org: config.organisation.name, job, fromMs: period.from, toMs: period.to, now, before, consoleUrl: consoleUrl(), reportId, timezone: config.organisation.timezone });
      await transport.sendMail({ from: smtp.from, to, subject: mail.subject, text: mail.text });
    } catch (e) {
      log((e as Error).message); // a mail failure never fails the report run
    }
  };
}
