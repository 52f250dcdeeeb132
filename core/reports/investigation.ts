import { BandClock } from '../timeonline/bands.ts';
import { assessActivity, type ActivityEvent } from './activity.ts';
import { bandPolicy, checkPeriod, chMillis, mb, type BuildContext } from './context.ts';
import type { BuiltReport } from './model.ts';

// The investigation report: a named subject's activity inside the scope a director authorised
// (person, window). Built on demand by the console inside an open investigation; the caller has
// checked the investigation is open and unexpired and writes the audit row.

export interface InvestigationScope {
  investigationId: string;
  /** the subject as the director named them (shown only in this sealed report) */
  subject: string;
  subjectPseudonym: string;
  allegation: string;
  from: string;
  to: string;
  /**
   * the kinds of record the director authorised (visits, downloads, uploads, blocked); without
   * visits only requests of the named kinds are in the report. Absent: every request.
   */
  kinds?: readonly string[];
}

/** Whether one request falls inside the authorised kinds of record. */
export function inKinds(e: { filename: string; bytes_up: number; action: string; flags: string[] }, kinds: readonly string[] | undefined): boolean {
  if (!kinds || kinds.includes('visits')) return true;
  return (kinds.includes('downloads') && e.filename !== '')
    || (kinds.includes('uploads') && (e.bytes_up > 0 || e.flags.includes('large-upload')))
    || (kinds.includes('blocked') && ['block', 'quota', 'denied-client'].includes(e.action));
}

export const MAX_INVESTIGATION_ROWS = 200_000;

export async function fetchSubjectEvents(ctx: BuildContext, s: InvestigationScope): Promise<Array<ActivityEvent & { path: string; status: number; filename: string; event_id: string }>> {
  const { from, to } = checkPeriod(s);
  const rows = await ctx.store.rows<ActivityEvent & { path: string; status: number; filename: string; event_id: string }>(
    `SELECT toString(event_id) AS event_id, toUnixTimestamp64Milli(ts) AS t, user_group, host, path, status, category, action, bytes_up, bytes_down, filename, flags
     FROM ${ctx.store.database}.events
     WHERE user_pseudonym = {p:String} AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}
     ORDER BY ts, event_id LIMIT {limit:UInt32}`,
    { p: s.subjectPseudonym, from: chMillis(from), to: chMillis(to), limit: MAX_INVESTIGATION_ROWS });
  return rows.map((r) => ({ ...r, t: Number(r.t), bytes_up: Number(r.bytes_up), bytes_down: Number(r.bytes_down), status: Number(r.status) }));
}

export async function buildInvestigation(ctx: BuildContext, s: InvestigationScope): Promise<BuiltReport> {
  const { from, to } = checkPeriod(s);
  const events = (await fetchSubjectEvents(ctx, s)).filter((e) => inKinds(e, s.kinds));
  const x = assessActivity(events, ctx.config, new BandClock(bandPolicy(ctx.config)));
  const byCategory = new Map<string, number>();
  for (const e of events) byCategory.set(e.category || '(uncategorised)', (byCategory.get(e.category || '(uncategorised)') ?? 0) + 1);
  const cats = [...byCategory.entries()].sort((p, q) => q[1] - p[1]).slice(0, 16);
  const mins = (ms: number) => Math.round(ms / 600) / 100;
  const periodIso = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  return {
    kind: 'investigation',
    period: periodIso,
    title: `Investigation ${s.investigationId}: ${s.subject}`,
    summary: {
      subject: s.subject, allegation: s.allegation, 'kinds of record': (s.kinds ?? ['all']).join(', '), requests: x.requests, 'blocked attempts': x.blocked,
      'MB up': mb(x.bytesUp), 'MB down': mb(x.bytesDown), 'minutes online (working)': mins(x.onlineMs.working),
      'minutes online (breaks)': mins(x.onlineMs.break), 'minutes online (out of hours)': mins(x.onlineMs['out-of-hours']),
      flags: x.flags.join(' ') || 'none', truncated: events.length >= MAX_INVESTIGATION_ROWS ? `yes, first ${MAX_INVESTIGATION_ROWS} requests` : 'no',
    },
    data: { investigation_id: s.investigationId, subject: s.subject, allegation: s.allegation, assessment: { ...x, flagged: x.flagged.map((f) => ({ ...f, t: new Date(f.t).toISOString() })) } },
    tables: {
      activity: {
        title: 'Requests in scope', columns: ['time', 'domain', 'path', 'status', 'category', 'action', 'bytes up', 'bytes down', 'file', 'flags', 'event id'],
        rows: events.map((e) => [new Date(e.t).toISOString(), e.host, e.path, e.status, e.category, e.action, e.bytes_up, e.bytes_down, e.filename, e.flags.join(' '), e.event_id]),
      },
    },
    charts: [{ title: 'Requests by category', unit: 'requests', labels: cats.map(([c]) => c), series: [{ name: 'requests', values: cats.map(([, n]) => n) }] }],
    notes: ['Opened under a director-authorised investigation; every opening is recorded in the audit log.'],
  };
}
