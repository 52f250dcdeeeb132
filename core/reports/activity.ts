import type { BandName, Config } from '../config/schema.ts';
import { BandClock, emptyBands, type BandTotals } from '../timeonline/bands.ts';
import { sessionise, sessionRuleFromConfig } from '../timeonline/sessions.ts';

// One person's activity measured against the policy: pure, over events already fetched. Used by the
// spot check (pseudonymous) and the investigation report.

export interface ActivityEvent {
  t: number;
  host: string;
  category: string;
  action: string;
  bytes_up: number;
  bytes_down: number;
  flags: string[];
  user_group: string;
}

export interface ActivityAssessment {
  requests: number;
  blocked: number;
  bytesUp: number;
  bytesDown: number;
  onlineMs: BandTotals;
  personalWorkingMs: number;
  personalSharePercent: number;
  flags: string[];
  flagged: Array<{ t: number; host: string; category: string; action: string; flag: string }>;
}

/** Categories a group may never reach: blocked by a rule in every band. */
export function alwaysBlockedCategories(config: Config, group: string): Set<string> {
  const out = new Set<string>();
  for (const r of config.policy.rules) {
    if (r.action !== 'block') continue;
    if (!r.groups.includes('*') && !r.groups.includes(group)) continue;
    const all: BandName[] = ['working', 'break', 'out-of-hours'];
    if (all.every((b) => r.bands.includes(b))) for (const c of r.categories) out.add(c);
  }
  return out;
}

export function assessActivity(events: readonly ActivityEvent[], config: Config, clock: BandClock): ActivityAssessment {
  const rule = sessionRuleFromConfig(config.analyser);
  const onlineMs = clock.addSessions(sessionise(events.map((e) => e.t), rule), emptyBands());
  const personal = new Set(config.analyser.personalCategories);
  const personalSessions = sessionise(events.filter((e) => personal.has(e.category)).map((e) => e.t), rule);
  const personalBands = clock.addSessions(personalSessions, emptyBands());
  const group = events[0]?.user_group ?? '';
  const never = alwaysBlockedCategories(config, group);
  const flagged: ActivityAssessment['flagged'] = [];
  let blocked = 0, up = 0, down = 0;
  for (const e of events) {
    up += e.bytes_up;
    down += e.bytes_down;
    if (e.action === 'block') blocked++;
    if (never.has(e.category)) flagged.push({ t: e.t, host: e.host, category: e.category, action: e.action, flag: 'always-blocked-category' });
    if (e.flags.includes('executable')) flagged.push({ t: e.t, host: e.host, category: e.category, action: e.action, flag: 'executable-download' });
    if (e.flags.includes('large-upload')) flagged.push({ t: e.t, host: e.host, category: e.category, action: e.action, flag: 'large-upload' });
  }
  const share = onlineMs.working > 0 ? Math.round((personalBands.working / onlineMs.working) * 1000) / 10 : 0;
  const flags = [...new Set(flagged.map((f) => f.flag))];
  if (share > config.analyser.personalUseThresholdPercent) flags.push('excessive-personal-use');
  return { requests: events.length, blocked, bytesUp: up, bytesDown: down, onlineMs, personalWorkingMs: personalBands.working, personalSharePercent: share, flags: flags.sort(), flagged };
}
