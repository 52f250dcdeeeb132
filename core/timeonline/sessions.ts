// Time online, estimated from request times alone (the proxy sees requests, not screens):
// a person's requests are grouped into sessions, a new session starting whenever the gap since the
// previous request exceeds the idle gap. A session counts from its first request to its last, plus
// a fixed minimum for reading what the last request brought (so a lone request still counts),
// clipped so it never runs into the next session. Pure: timestamps in, sessions out.

export interface Session {
  /** ms since epoch of the first request */
  start: number;
  /** ms since epoch of the last request */
  last: number;
  /** end of the credited time: last + minimum, clipped at the next session's start */
  end: number;
  requests: number;
}

export interface SessionRule {
  gapMs: number;
  minimumMs: number;
}

export function sessionRuleFromConfig(a: { sessionGapMinutes: number; sessionMinimumMinutes: number }): SessionRule {
  return { gapMs: a.sessionGapMinutes * 60_000, minimumMs: a.sessionMinimumMinutes * 60_000 };
}

/** Sessions of one person's request times (any order). */
export function sessionise(times: readonly number[], rule: SessionRule): Session[] {
  if (times.length === 0) return [];
  const sorted = Float64Array.from(times).sort();
  const out: Session[] = [];
  let cur: Session = { start: sorted[0]!, last: sorted[0]!, end: 0, requests: 1 };
  for (let i = 1; i < sorted.length; i++) {
    const t = sorted[i]!;
    if (t - cur.last > rule.gapMs) {
      out.push(cur);
      cur = { start: t, last: t, end: 0, requests: 1 };
    } else {
      cur.last = t;
      cur.requests++;
    }
  }
  out.push(cur);
  for (let i = 0; i < out.length; i++) {
    const next = out[i + 1];
    const s = out[i]!;
    s.end = next ? Math.min(s.last + rule.minimumMs, next.start) : s.last + rule.minimumMs;
  }
  return out;
}

/** Total credited time of the sessions, in ms. */
export function timeOnlineMs(sessions: readonly Session[]): number {
  let total = 0;
  for (const s of sessions) total += s.end - s.start;
  return total;
}
