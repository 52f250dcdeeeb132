import type { BandName } from '../../core/config/schema.ts';
import { timeOnlineParams, timeOnlineQuery } from '../timeonline/sql.ts';
import { bandPolicy, checkPeriod, chMillis, chSeconds, hours, mb, pct, type BuildContext, type PeriodIso } from '../../core/reports/context.ts';
import type { BuiltReport, Cell, ReportTable } from '../../core/reports/model.ts';
import { registrableDomain } from '../../core/net/registrable-domain.ts';
import { MAX_BARS } from '../../core/reports/svg.ts';

// The organisation-wide audit (nightly, weekly, monthly): by group and category, from the rollups
// only, never naming anyone. Large uploads are listed by pseudonym, as the policy asks.

const BANDS: BandName[] = ['working', 'break', 'out-of-hours'];

interface GroupCategoryRow {
  user_group: string; category: string; requests: number; blocked: number; warned: number; bytes_up: number; bytes_down: number;
  executables: number; large_uploads: number; exceptions_used: number; people: number;
}

export interface Totals {
  requests: number; blocked: number; bytesUp: number; bytesDown: number; people: number; minutesOnline: number;
}

/** Headline totals of a period; `minutesOnline` given when the caller already has it. */
async function totals(ctx: BuildContext, from: number, to: number, minutesOnline?: number): Promise<Totals> {
  const db = ctx.store.database;
  const r = await ctx.store.one<{ requests: number; blocked: number; up: number; down: number; people: number }>(
    `SELECT sum(r.requests) AS requests, sumIf(r.requests, action = 'block') AS blocked, sum(r.bytes_up) AS up, sum(r.bytes_down) AS down,
       uniqExactIf(user_pseudonym, user_pseudonym != '') AS people
     FROM ${db}.rollup_person_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime}`,
    { from: chSeconds(from), to: chSeconds(to) });
  const a = ctx.config.analyser;
  if (minutesOnline === undefined) {
    const online = await ctx.store.rows<{ band: string; minutes: number }>(timeOnlineQuery(db, ['user_group']),
      timeOnlineParams(bandPolicy(ctx.config), a.sessionGapMinutes, a.sessionMinimumMinutes, chSeconds(from), chSeconds(to)));
    minutesOnline = online.reduce((s, x) => s + Number(x.minutes), 0);
  }
  return {
    requests: Number(r?.requests ?? 0), blocked: Number(r?.blocked ?? 0), bytesUp: Number(r?.up ?? 0), bytesDown: Number(r?.down ?? 0),
    people: Number(r?.people ?? 0), minutesOnline,
  };
}

const change = (now: number, before: number): Cell => (before === 0 ? (now === 0 ? '0%' : 'new') : `${now >= before ? '+' : ''}${pct(now - before, before)}%`);

export async function buildAudit(ctx: BuildContext, period: PeriodIso, label = 'audit'): Promise<BuiltReport> {
  const { from, to } = checkPeriod(period);
  const { store, config } = ctx;
  const db = store.database;
  const range = { from: chSeconds(from), to: chSeconds(to) };
  const a = config.analyser;
  const bp = bandPolicy(config);

  const byGroupCategory = await store.rows<GroupCategoryRow>(
    `SELECT user_group, category, sum(r.requests) AS requests, sumIf(r.requests, action = 'block') AS blocked, sumIf(r.requests, action = 'warn') AS warned,
       sum(r.bytes_up) AS bytes_up, sum(r.bytes_down) AS bytes_down, sum(r.executables) AS executables, sum(r.large_uploads) AS large_uploads,
       sum(r.exceptions_used) AS exceptions_used, uniqExactIf(user_pseudonym, user_pseudonym != '') AS people
     FROM ${db}.rollup_person_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime}
     GROUP BY user_group, category ORDER BY user_group, requests DESC, category`, range);

  const params = timeOnlineParams(bp, a.sessionGapMinutes, a.sessionMinimumMinutes, range.from, range.to);
  const onlineByGroup = await store.rows<{ user_group: string; band: BandName; minutes: number }>(timeOnlineQuery(db, ['user_group']), params);
  const onlineByGroupCategory = await store.rows<{ user_group: string; category: string; band: BandName; minutes: number }>(
    timeOnlineQuery(db, ['user_group', 'category']), params);

  // every host, then grouped by registrable domain here (a site's many host names read as one line)
  const byHost = await store.rows<{ category: string; host: string; requests: number; blocked: number; bytes_down: number }>(
    `SELECT category, host, sum(r.requests) AS requests, sumIf(r.requests, action = 'block') AS blocked, sum(r.bytes_down) AS bytes_down
     FROM ${db}.rollup_domains_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime}
     GROUP BY category, host`, range);
  const topDomains = topSites(byHost, 10);

  const executableHosts = await store.rows<{ category: string; host: string; executables: number; blocked: number }>(
    `SELECT category, host, sum(r.executables) AS executables, sumIf(r.executables, action = 'block') AS blocked
     FROM ${db}.rollup_domains_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime} AND r.executables > 0
     GROUP BY category, host ORDER BY executables DESC, host LIMIT 50`, range);

  const largeUploads = await store.rows<{ user_pseudonym: string; user_group: string; uploads: number; bytes: number }>(
    `SELECT user_pseudonym, user_group, sum(r.large_uploads) AS uploads, sum(r.large_upload_bytes) AS bytes
     FROM ${db}.rollup_person_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime} AND r.large_uploads > 0
     GROUP BY user_pseudonym, user_group ORDER BY bytes DESC, user_pseudonym LIMIT 100`, range);

  const selfReports = await store.rows<{ target: string; reports: number }>(
    `SELECT target, count() AS reports FROM ${db}.authorisations
     WHERE subject = 'self-report' AND kind = 'request' AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}
     GROUP BY target ORDER BY reports DESC, target`, { from: chMillis(from), to: chMillis(to) });

  const exceptionsApproved = await store.one<{ n: number }>(
    `SELECT count() AS n FROM ${db}.authorisations
     WHERE subject = 'work-exception' AND kind = 'approve' AND ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)}`,
    { from: chMillis(from), to: chMillis(to) });

  const coverage = await store.one<{ active: number; accepted: number }>(
    `SELECT count() AS active, countIf(user_pseudonym IN (
        SELECT user_pseudonym FROM ${db}.aup_acceptances WHERE version = {version:String} AND ts < {to:DateTime64(3)})) AS accepted
     FROM (SELECT DISTINCT user_pseudonym FROM ${db}.rollup_person_hourly
           WHERE hour >= {from:DateTime} AND hour < {to:DateTime} AND user_pseudonym != '')`,
    { ...range, version: config.aup.version, to: chSeconds(to) });

  const byDayRows = await store.rows<{ d: string; requests: number; blocked: number }>(
    `SELECT toString(toDate(toTimeZone(hour, {tz:String}))) AS d, sum(r.requests) AS requests, sumIf(r.requests, action = 'block') AS blocked
     FROM ${db}.rollup_org_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime} GROUP BY d ORDER BY d`,
    { ...range, tz: bp.timezone });
  const dayTotals = new Map(byDayRows.map((r) => [r.d, r]));
  const byDay = localDays(from, to, bp.timezone).map((d) => ({ d, requests: Number(dayTotals.get(d)?.requests ?? 0), blocked: Number(dayTotals.get(d)?.blocked ?? 0) }));

  const chartDays = byDay.slice(-MAX_BARS); // the table keeps every day

  const byHour = await store.rows<{ h: number; requests: number; blocked: number; people: number }>(
    `SELECT toHour(toTimeZone(hour, {tz:String})) AS h, sum(r.requests) AS requests, sumIf(r.requests, action = 'block') AS blocked
     FROM ${db}.rollup_org_hourly AS r WHERE hour >= {from:DateTime} AND hour < {to:DateTime} GROUP BY h ORDER BY h`,
    { ...range, tz: bp.timezone });

  const current = await totals(ctx, from, to, onlineByGroup.reduce((s, x) => s + Number(x.minutes), 0));
  const span = to - from;
  const previous = await totals(ctx, from - span, from);

  // ---- assemble ----
  const onlineKey = (g: string, c: string) => `${g}\u0000${c}`;
  const online = new Map<string, Record<BandName, number>>();
  for (const r of onlineByGroupCategory) {
    const k = onlineKey(r.user_group, r.category);
    const v = online.get(k) ?? { working: 0, break: 0, 'out-of-hours': 0 };
    v[r.band] += Number(r.minutes);
    online.set(k, v);
  }
  const groupOnline = new Map<string, Record<BandName, number>>();
  for (const r of onlineByGroup) {
    const v = groupOnline.get(r.user_group) ?? { working: 0, break: 0, 'out-of-hours': 0 };
    v[r.band] += Number(r.minutes);
    groupOnline.set(r.user_group, v);
  }

  const num = (x: unknown) => Number(x ?? 0);
  const groupCategory: ReportTable = {
    title: 'Activity by group and category',
    columns: ['group', 'category', 'people', 'requests', 'blocked attempts', 'warned', 'MB uploaded', 'MB downloaded',
      'hours online (working)', 'hours online (breaks)', 'hours online (out of hours)', 'executable downloads', 'large uploads', 'exceptions used'],
    rows: byGroupCategory.map((r) => {
      const o = online.get(onlineKey(r.user_group, r.category)) ?? { working: 0, break: 0, 'out-of-hours': 0 };
      return [r.user_group, r.category || '(uncategorised)', num(r.people), num(r.requests), num(r.blocked), num(r.warned), mb(num(r.bytes_up)), mb(num(r.bytes_down)),
        hours(o.working), hours(o.break), hours(o['out-of-hours']), num(r.executables), num(r.large_uploads), num(r.exceptions_used)];
    }),
  };
  const groups = [...new Set([...byGroupCategory.map((r) => r.user_group), ...groupOnline.keys()])].sort();
  const groupTable: ReportTable = {
    title: 'Time online by group and band (hours)',
    columns: ['group', 'people', 'requests', 'blocked attempts', 'working', 'breaks', 'out of hours'],
    rows: groups.map((g) => {
      const rows = byGroupCategory.filter((r) => r.user_group === g);
      const o = groupOnline.get(g) ?? { working: 0, break: 0, 'out-of-hours': 0 };
      return [g, Math.max(0, ...rows.map((r) => num(r.people))), rows.reduce((s, r) => s + num(r.requests), 0), rows.reduce((s, r) => s + num(r.blocked), 0),
        hours(o.working), hours(o.break), hours(o['out-of-hours'])];
    }),
  };

  const byCategory = new Map<string, { requests: number; blocked: number }>();
  for (const r of byGroupCategory) {
    const c = r.category || '(uncategorised)';
    const v = byCategory.get(c) ?? { requests: 0, blocked: 0 };
    v.requests += num(r.requests);
    v.blocked += num(r.blocked);
    byCategory.set(c, v);
  }
  const topCats = [...byCategory.entries()].sort((x, y) => y[1].requests - x[1].requests).slice(0, 16);

  const totalPrev = previous;
  const trend: ReportTable = {
    title: 'Trend against the previous period',
    columns: ['measure', 'this period', 'previous period', 'change'],
    rows: [
      ['requests', current.requests, totalPrev.requests, change(current.requests, totalPrev.requests)],
      ['blocked attempts', current.blocked, totalPrev.blocked, change(current.blocked, totalPrev.blocked)],
      ['MB downloaded', mb(current.bytesDown), mb(totalPrev.bytesDown), change(current.bytesDown, totalPrev.bytesDown)],
      ['MB uploaded', mb(current.bytesUp), mb(totalPrev.bytesUp), change(current.bytesUp, totalPrev.bytesUp)],
      ['active people', current.people, totalPrev.people, change(current.people, totalPrev.people)],
      ['hours online', hours(current.minutesOnline), hours(totalPrev.minutesOnline), change(current.minutesOnline, totalPrev.minutesOnline)],
    ],
  };

  const active = num(coverage?.active);
  const accepted = num(coverage?.accepted);
  const tables: Record<string, ReportTable> = {
    groups: groupTable,
    group_category: groupCategory,
    daily: { title: `Requests by day (${bp.timezone})`, columns: ['day', 'requests', 'blocked attempts'],
      rows: byDay.map((r) => [r.d, r.requests, r.blocked]) },
    top_domains: { title: 'Top sites per category (by registrable domain)', columns: ['category', 'site', 'host names', 'requests', 'blocked attempts', 'MB downloaded'],
      rows: topDomains.map((r) => [r.category || '(uncategorised)', r.domain, r.hosts, r.requests, r.blocked, mb(r.bytes_down)]) },
    executable_downloads: { title: 'Executable downloads (by host name)', columns: ['category', 'domain', 'executables', 'of which blocked'],
      rows: executableHosts.map((r) => [r.category || '(uncategorised)', r.host, num(r.executables), num(r.blocked)]) },
    large_uploads: { title: `Large uploads (over ${config.policy.largeUploadMB} MB) by pseudonym`, columns: ['pseudonym', 'group', 'uploads', 'MB'],
      rows: largeUploads.map((r) => [r.user_pseudonym, r.user_group, num(r.uploads), mb(num(r.bytes))]) },
    exceptions: { title: 'Exceptions used', columns: ['group', 'category', 'requests under an exception'],
      rows: byGroupCategory.filter((r) => num(r.exceptions_used) > 0).map((r) => [r.user_group, r.category || '(uncategorised)', num(r.exceptions_used)]) },
    self_reports: { title: 'Self-reports of accidental visits', columns: ['category or domain', 'reports'],
      rows: selfReports.map((r) => [r.target, num(r.reports)]) },
    trend,
    hours_of_day: { title: `Requests by hour of day (${bp.timezone})`, columns: ['hour', 'requests', 'blocked attempts'],
      rows: byHour.map((r) => [`${String(r.h).padStart(2, '0')}:00`, num(r.requests), num(r.blocked)]) },
  };

  const summary: Record<string, Cell> = {
    requests: current.requests,
    'blocked attempts': current.blocked,
    'MB downloaded': mb(current.bytesDown),
    'MB uploaded': mb(current.bytesUp),
    'active people': current.people,
    'hours online': hours(current.minutesOnline),
    'executable downloads': byGroupCategory.reduce((s, r) => s + num(r.executables), 0),
    'large uploads': largeUploads.reduce((s, r) => s + num(r.uploads), 0),
    'exceptions used (requests)': byGroupCategory.reduce((s, r) => s + num(r.exceptions_used), 0),
    'exceptions approved': num(exceptionsApproved?.n),
    'self-reports': selfReports.reduce((s, r) => s + num(r.reports), 0),
    [`acceptable-use coverage (version ${config.aup.version})`]: `${pct(accepted, active)}% (${accepted} of ${active} active people)`,
  };

  const periodIso = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  return {
    kind: 'audit',
    period: periodIso,
    title: `Audit (${label}) ${periodIso.from.slice(0, 10)} to ${periodIso.to.slice(0, 10)}`,
    summary,
    data: {
      label,
      totals: current,
      previous,
      groups: groups.map((g) => ({ group: g, online_minutes: groupOnline.get(g) ?? { working: 0, break: 0, 'out-of-hours': 0 } })),
      by_group_category: byGroupCategory.map((r) => ({
        ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' ? v : num(v)])),
        online_minutes: online.get(onlineKey(r.user_group, r.category)) ?? { working: 0, break: 0, 'out-of-hours': 0 },
      })),
      top_domains: topDomains.map((r) => ({ category: r.category, domain: r.domain, hosts: r.hosts, requests: r.requests, blocked: r.blocked, bytes_down: r.bytes_down })),
      by_day: byDay.map((r) => ({ day: r.d, requests: r.requests, blocked: r.blocked })),
      executable_downloads: executableHosts.map((r) => ({ category: r.category, host: r.host, executables: num(r.executables), blocked: num(r.blocked) })),
      large_uploads: largeUploads.map((r) => ({ pseudonym: r.user_pseudonym, group: r.user_group, uploads: num(r.uploads), bytes: num(r.bytes) })),
      self_reports: selfReports.map((r) => ({ target: r.target, reports: num(r.reports) })),
      exceptions_approved: num(exceptionsApproved?.n),
      aup_coverage: { version: config.aup.version, active, accepted, percent: pct(accepted, active) },
      method: { sessionGapMinutes: a.sessionGapMinutes, sessionMinimumMinutes: a.sessionMinimumMinutes, resolution: 'minute', timezone: bp.timezone },
    },
    tables,
    charts: [
      { title: `Daily trend${chartDays.length < byDay.length ? `, last ${chartDays.length} days` : ''} (${bp.timezone})`, unit: 'requests', labels: chartDays.map((r) => r.d.slice(5)),
        series: [{ name: 'requests', values: chartDays.map((r) => r.requests) }, { name: 'blocked', values: chartDays.map((r) => r.blocked) }] },
      { title: 'Requests by category', unit: 'requests', labels: topCats.map(([c]) => c),
        series: [{ name: 'requests', values: topCats.map(([, v]) => v.requests) }, { name: 'blocked', values: topCats.map(([, v]) => v.blocked) }] },
      { title: 'Requests by hour of day', unit: 'requests', labels: byHour.map((r) => `${String(r.h).padStart(2, '0')}h`),
        series: [{ name: 'requests', values: byHour.map((r) => num(r.requests)) }, { name: 'blocked', values: byHour.map((r) => num(r.blocked)) }] },
      { title: 'Time online by group and band', unit: 'hours', labels: groups,
        series: BANDS.map((b) => ({ name: b, values: groups.map((g) => hours((groupOnline.get(g) ?? { working: 0, break: 0, 'out-of-hours': 0 })[b])) })) },
    ],
    notes: [
      `Time online is estimated from request times: sessions end after ${a.sessionGapMinutes} idle minutes; each session counts from its first to its last request plus ${a.sessionMinimumMinutes} minute(s), at minute resolution, split into bands in ${bp.timezone}. Per-category time overlaps when a person uses several categories in one session, so category hours need not add up to the group total.`,
      'People appear only as pseudonyms. No names are held in this report.',
    ],
  };
}

export interface SiteRow { category: string; domain: string; hosts: number; requests: number; blocked: number; bytes_down: number }

/** Host rows summed by category and registrable domain; the `limit` busiest sites of each category. */
export function topSites(rows: ReadonlyArray<{ category: string; host: string; requests: number; blocked: number; bytes_down: number }>, limit: number): SiteRow[] {
  const sites = new Map<string, SiteRow>();
  for (const r of rows) {
    const domain = registrableDomain(r.host);
    const k = `${r.category}\u0000${domain}`;
    const s = sites.get(k) ?? { category: r.category, domain, hosts: 0, requests: 0, blocked: 0, bytes_down: 0 };
    s.hosts++;
    s.requests += Number(r.requests);
    s.blocked += Number(r.blocked);
    s.bytes_down += Number(r.bytes_down);
    sites.set(k, s);
  }
  const sorted = [...sites.values()].sort((a, b) => (a.category < b.category ? -1 : a.category > b.category ? 1 : b.requests - a.requests || (a.domain < b.domain ? -1 : 1)));
  const perCategory = new Map<string, number>();
  return sorted.filter((s) => {
    const n = perCategory.get(s.category) ?? 0;
    perCategory.set(s.category, n + 1);
    return n < limit;
  });
}

/** The local calendar days (YYYY-MM-DD in `timeZone`) that [from, to) touches, oldest first. */
export function localDays(from: number, to: number, timeZone: string): string[] {
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const days: string[] = [];
  // hourly steps see every local day, summer-time changes included; bounded to about a year of days
  for (let t = from, i = 0; t < to && i < 24 * 400; t += 3_600_000, i++) {
    const d = fmt.format(t);
    if (days[days.length - 1] !== d) days.push(d);
  }
  return days;
}
