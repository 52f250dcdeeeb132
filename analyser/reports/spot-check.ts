import { BandClock } from '../../core/timeonline/bands.ts';
import { assessActivity, type ActivityEvent } from '../../core/reports/activity.ts';
import { bandPolicy, checkPeriod, chMillis, chSeconds, mb, type BuildContext, type PeriodIso } from '../../core/reports/context.ts';
import type { BuiltReport, ReportTable } from '../../core/reports/model.ts';
import { newSeed, spotCheckSample } from './sample.ts';

// The weekly spot check: K pseudonyms active in the period and one time window, drawn at random
// (seed recorded), each person's activity in the window set against the policy. Pseudonymous.

const minutes = (ms: number) => Math.round(ms / 600) / 100;

export async function buildSpotCheck(ctx: BuildContext, period: PeriodIso, opts: { seed?: string } = {}): Promise<BuiltReport> {
  const { from, to } = checkPeriod(period);
  const { store, config } = ctx;
  const db = store.database;
  const a = config.analyser;
  const candidates = (await store.rows<{ p: string }>(
    `SELECT DISTINCT user_pseudonym AS p FROM ${db}.rollup_person_hourly
     WHERE hour >= {from:DateTime} AND hour < {to:DateTime} AND user_pseudonym != '' ORDER BY p`,
    { from: chSeconds(from), to: chSeconds(to) })).map((r) => r.p);
  const seed = opts.seed ?? newSeed();
  const sample = spotCheckSample(seed, candidates, a.spotCheckSampleSize, { from, to }, a.spotCheckWindowHours * 3_600_000);

  const events = sample.pseudonyms.length === 0 ? [] : await store.rows<ActivityEvent & { user_pseudonym: string }>(
    `SELECT user_pseudonym, user_group, toUnixTimestamp64Milli(ts) AS t, host, category, action, bytes_up, bytes_down, flags
     FROM ${db}.events
     WHERE ts >= {from:DateTime64(3)} AND ts < {to:DateTime64(3)} AND user_pseudonym IN {ps:Array(String)}
     ORDER BY user_pseudonym, ts`,
    { from: chMillis(sample.window.from), to: chMillis(sample.window.to), ps: sample.pseudonyms });
  const byPerson = new Map<string, ActivityEvent[]>(sample.pseudonyms.map((p) => [p, []]));
  for (const e of events) byPerson.get(e.user_pseudonym)?.push({ ...e, t: Number(e.t), bytes_up: Number(e.bytes_up), bytes_down: Number(e.bytes_down) });

  const clock = new BandClock(bandPolicy(config));
  const people = sample.pseudonyms.map((p) => ({ pseudonym: p, events: byPerson.get(p)!, assessment: assessActivity(byPerson.get(p)!, config, clock) }));

  const sampleTable: ReportTable = {
    title: 'Sampled pseudonyms: activity in the window',
    columns: ['pseudonym', 'group', 'requests', 'blocked attempts', 'MB up', 'MB down', 'minutes online (working)', 'minutes (breaks)', 'minutes (out of hours)', 'personal use in working time %', 'flags'],
    rows: people.map(({ pseudonym, events: ev, assessment: x }) => [pseudonym, ev[0]?.user_group ?? '', x.requests, x.blocked, mb(x.bytesUp), mb(x.bytesDown),
      minutes(x.onlineMs.working), minutes(x.onlineMs.break), minutes(x.onlineMs['out-of-hours']), x.personalSharePercent, x.flags.join(' ') || 'none']),
  };
  const flaggedTable: ReportTable = {
    title: 'Flagged requests',
    columns: ['pseudonym', 'time', 'domain', 'category', 'action', 'flag'],
    rows: people.flatMap(({ pseudonym, assessment }) => assessment.flagged.map((f) => [pseudonym, new Date(f.t).toISOString(), f.host, f.category || '(uncategorised)', f.action, f.flag])),
  };
  const flaggedPeople = people.filter((p) => p.assessment.flags.length > 0).length;
  const periodIso = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  const window = { from: new Date(sample.window.from).toISOString(), to: new Date(sample.window.to).toISOString() };
  return {
    kind: 'spot-check',
    period: periodIso,
    title: `Spot check ${periodIso.from.slice(0, 10)} to ${periodIso.to.slice(0, 10)}`,
    summary: {
      'people active in the period': candidates.length,
      'sample size': sample.pseudonyms.length,
      window: `${window.from} to ${window.to}`,
      'people with flags': flaggedPeople,
      'seed (reproduces the draw)': seed,
    },
    data: {
      seed,
      candidates: candidates.length,
      sample: sample.pseudonyms,
      window,
      threshold_percent: a.personalUseThresholdPercent,
      people: people.map(({ pseudonym, events: ev, assessment: x }) => ({
        pseudonym, group: ev[0]?.user_group ?? '', requests: x.requests, blocked: x.blocked, bytes_up: x.bytesUp, bytes_down: x.bytesDown,
        online_ms: x.onlineMs, personal_working_ms: x.personalWorkingMs, personal_share_percent: x.personalSharePercent, flags: x.flags,
        flagged: x.flagged.map((f) => ({ ...f, t: new Date(f.t).toISOString() })),
      })),
    },
    tables: { sample: sampleTable, flagged: flaggedTable },
    charts: [{ title: 'Time online in the window by pseudonym', unit: 'minutes', labels: people.map((p) => p.pseudonym),
      series: (['working', 'break', 'out-of-hours'] as const).map((b) => ({ name: b, values: people.map((p) => minutes(p.assessment.onlineMs[b])) })) }],
    notes: [
      `Sample of ${a.spotCheckSampleSize} drawn with a CSPRNG; the seed above reproduces the draw (pseudonyms sorted, HMAC-SHA256 stream, Fisher–Yates).`,
      `Flags: always-blocked categories attempted; personal categories over ${a.personalUseThresholdPercent}% of working time online; executable downloads; large uploads.`,
      'People appear only as pseudonyms. No names are held in this report.',
    ],
  };
}
