import { createHash } from 'node:crypto';
import type { AlertsConfig } from '../config/schema.ts';
import { localDate, offsetMs } from '../time/zone.ts';

// What policy.alerts says for one person's group, and the windows attempts are counted in. Pure.
// Windows are fixed: a clock hour, and a calendar day in the organisation's time zone. A fixed
// window gives every alert a stable identity (pseudonym, category, window), so ingesters running
// side by side, or a batch stored again after a crash, raise the same alert rather than two.

export type PeriodKind = 'hour' | 'day';

export interface AlertRule {
  categories: ReadonlySet<string>;
  perHour: number | null;
  perDay: number | null;
}

/** A blocked request as the ingester saw it. */
export interface BlockedAttempt {
  ts: number;
  pseudonym: string;
  group: string;
  category: string;
}

/** One (person, category, window) whose count must be checked against its threshold. */
export interface WatchedWindow {
  id: string;
  pseudonym: string;
  category: string;
  kind: PeriodKind;
  from: number;
  to: number;
  threshold: number;
}

/** The rule for a group (its own settings over policy.alerts), or null when alerts are off for it. */
export function alertRuleFor(cfg: AlertsConfig, group: string): AlertRule | null {
  const g = cfg.groups[group] ?? {};
  if (!(g.enabled ?? cfg.enabled)) return null;
  const perHour = g.perHour === undefined ? cfg.perHour : g.perHour;
  const perDay = g.perDay === undefined ? cfg.perDay : g.perDay;
  if (perHour === null && perDay === null) return null;
  return { categories: new Set(g.categories ?? cfg.categories), perHour, perDay };
}

/** Every category some group is alerted on (what the ingester looks for in a batch). */
export function watchedCategories(cfg: AlertsConfig): Set<string> {
  const out = new Set<string>();
  if (cfg.enabled) for (const c of cfg.categories) out.add(c);
  for (const g of Object.values(cfg.groups)) {
    if (g.enabled ?? cfg.enabled) for (const c of g.categories ?? cfg.categories) out.add(c);
  }
  return out;
}

function local(t: number, tz: string): { y: number; m: number; d: number; offset: number } {
  return { ...localDate(t, tz), offset: offsetMs(t, tz) };
}

/** The instant local midnight starts on a calendar date (day may overflow into the next month). */
function localMidnight(y: number, m: number, d: number, tz: string): number {
  const guess = Date.UTC(y, m - 1, d);
  const first = guess - local(guess, tz).offset;
  return guess - local(first, tz).offset;
}

/** The window of `kind` holding instant `t`: a clock hour (UTC-aligned; zones differ by whole hours almost everywhere), or a local day. */
export function periodOf(kind: PeriodKind, t: number, tz: string): { from: number; to: number } {
  if (kind === 'hour') {
    const from = Math.floor(t / 3_600_000) * 3_600_000;
    return { from, to: from + 3_600_000 };
  }
  const { y, m, d } = local(t, tz);
  return { from: localMidnight(y, m, d, tz), to: localMidnight(y, m, d + 1, tz) };
}

/** A stable id for (person, category, window): the same alert whoever computes it. */
export function alertId(pseudonym: string, category: string, kind: PeriodKind, from: number): string {
  return createHash('sha256').update(`${pseudonym}\0${category}\0${kind}\0${from}`).digest('hex').slice(0, 32);
}

/** The distinct windows a batch's blocked attempts fall in, for the people and categories alerts watch. */
export function windowsToCheck(attempts: readonly BlockedAttempt[], cfg: AlertsConfig, tz: string): WatchedWindow[] {
  const out = new Map<string, WatchedWindow>();
  const rules = new Map<string, AlertRule | null>();
  for (const a of attempts) {
    if (!a.pseudonym || !a.category) continue;
    let rule = rules.get(a.group);
    if (rule === undefined) {
      rule = alertRuleFor(cfg, a.group);
      rules.set(a.group, rule);
    }
    if (!rule || !rule.categories.has(a.category)) continue;
    for (const [kind, threshold] of [['hour', rule.perHour], ['day', rule.perDay]] as const) {
      if (threshold === null) continue;
      const { from, to } = periodOf(kind, a.ts, tz);
      const id = alertId(a.pseudonym, a.category, kind, from);
      if (!out.has(id)) out.set(id, { id, pseudonym: a.pseudonym, category: a.category, kind, from, to, threshold });
    }
  }
  return [...out.values()];
}
