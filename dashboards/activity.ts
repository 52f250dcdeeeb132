import type { ConsoleDeps } from './deps.ts';
import { sessionise, sessionRuleFromConfig, timeOnlineMs } from '../core/timeonline/sessions.ts';

// The subject's events in an investigation's scope: found by their pseudonym, inside the window,
// only the kinds of record the director named. Host names appear in clear here and nowhere else.

export const KINDS = ['visits', 'downloads', 'uploads', 'blocked'] as const;
export type Kind = (typeof KINDS)[number];

export interface Scope {
  pseudonym: string;
  from: number;
  to: number;
  kinds: Kind[];
}

export interface Activity {
  requests: number;
  time_online_minutes: number;
  bytes_up: number;
  bytes_down: number;
  visits?: Array<{ host: string; requests: number; first: string; last: string; bytes_down: number }>;
  downloads?: Array<{ ts: string; host: string; path: string; filename: string; bytes_down: number; content_type: string }>;
  uploads?: Array<{ ts: string; method: string; host: string; path: string; bytes_up: number }>;
  blocked?: Array<{ ts: string; host: string; path: string; category: string; rule: string; action: string }>;
}

const LIMIT = 2000;
const iso = (ms: number | string) => new Date(Number(ms)).toISOString();

export async function activityInScope(deps: ConsoleDeps, scope: Scope): Promise<Activity> {
  const db = deps.store.database;
  const p = { u: scope.pseudonym, from: scope.from, to: scope.to };
  const where = `user_pseudonym = {u:String} AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
  const times = await deps.store.rows<{ t: number | string; up: number | string; down: number | string }>(
    `SELECT toUnixTimestamp64Milli(ts) AS t, bytes_up AS up, bytes_down AS down FROM ${db}.events WHERE ${where} ORDER BY ts`, p);
  const out: Activity = {
    requests: times.length,
    // the reports' rule (core/timeonline/sessions.ts), so the page and the sealed report agree
    time_online_minutes: Math.round(timeOnlineMs(sessionise(times.map((r) => Number(r.t)), sessionRuleFromConfig(deps.config.analyser))) / 60_000),
    bytes_up: times.reduce((s, r) => s + Number(r.up), 0),
    bytes_down: times.reduce((s, r) => s + Number(r.down), 0),
  };
  if (scope.kinds.includes('visits')) {
    out.visits = (await deps.store.rows<{ host: string; n: number; first: number; last: number; down: number }>(
      `SELECT host, count() AS n, toUnixTimestamp64Milli(min(ts)) AS first, toUnixTimestamp64Milli(max(ts)) AS last, sum(bytes_down) AS down
       FROM ${db}.events WHERE ${where} GROUP BY host ORDER BY n DESC, host LIMIT ${LIMIT}`, p))
      .map((r) => ({ host: r.host, requests: Number(r.n), first: iso(r.first), last: iso(r.last), bytes_down: Number(r.down) }));
  }
  if (scope.kinds.includes('downloads')) {
    out.downloads = (await deps.store.rows<{ t: number; host: string; path: string; filename: string; down: number; ct: string }>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, host, path, filename, bytes_down AS down, content_type AS ct
       FROM ${db}.events WHERE ${where} AND filename != '' ORDER BY ts LIMIT ${LIMIT}`, p))
      .map((r) => ({ ts: iso(r.t), host: r.host, path: r.path, filename: r.filename, bytes_down: Number(r.down), content_type: r.ct }));
  }
  if (scope.kinds.includes('uploads')) {
    out.uploads = (await deps.store.rows<{ t: number; method: string; host: string; path: string; up: number }>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, method, host, path, bytes_up AS up FROM ${db}.events
       WHERE ${where} AND ((method IN ('POST', 'PUT', 'PATCH') AND bytes_up > 0) OR has(flags, 'large-upload')) ORDER BY ts LIMIT ${LIMIT}`, p))
      .map((r) => ({ ts: iso(r.t), method: r.method, host: r.host, path: r.path, bytes_up: Number(r.up) }));
  }
  if (scope.kinds.includes('blocked')) {
    out.blocked = (await deps.store.rows<{ t: number; host: string; path: string; category: string; rule: string; action: string }>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, host, path, category, rule, action FROM ${db}.events
       WHERE ${where} AND action IN ('block', 'quota', 'denied-client') ORDER BY ts LIMIT ${LIMIT}`, p))
      .map((r) => ({ ts: iso(r.t), host: r.host, path: r.path, category: r.category, rule: r.rule, action: r.action }));
  }
  return out;
}
