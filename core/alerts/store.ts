import type { Store } from '../storage/clickhouse.ts';
import type { PeriodKind, WatchedWindow } from './rules.ts';

// Alerts in ClickHouse (tables.ts): counting attempts from the stored events, writing alert rows,
// folding them into alerts, and recording what a director did. Counting from `events` rather than
// from counters makes a check repeatable: a batch checked twice (a claimed batch, two ingesters)
// gives the same counts, so nothing is counted twice.

export type AlertStatus = 'open' | 'investigation' | 'dismissed';

/** A window whose count reached its threshold, and what became of it. */
export interface Alert extends WatchedWindow {
  attempts: number;
  firstSeen: number;
  lastSeen: number;
  raisedAt: number;
  status: AlertStatus;
  /** the investigation request it became */
  requestId: string | null;
  actedAt: number | null;
  actedBy: string | null;
  reason: string | null;
}

export interface WindowCount {
  window: WatchedWindow;
  attempts: number;
  firstSeen: number;
  lastSeen: number;
}

const iso = (t: number) => new Date(t).toISOString().replace('T', ' ').replace('Z', '');
const ALERT_ID_RE = /^[0-9a-f]{32}$/;

export class AlertStore {
  constructor(private readonly store: Store) {}

  private get db(): string {
    return this.store.database;
  }

  /** Blocked attempts of each window's person in its category within the window, from the stored events. */
  async count(windows: readonly WatchedWindow[]): Promise<WindowCount[]> {
    // one query per window span: its people and categories together
    const bySpan = new Map<string, WatchedWindow[]>();
    for (const w of windows) {
      const k = `${w.from}-${w.to}`;
      bySpan.set(k, [...(bySpan.get(k) ?? []), w]);
    }
    const out: WindowCount[] = [];
    for (const ws of bySpan.values()) {
      const rows = await this.store.rows<{ p: string; c: string; n: number | string; f: number | string; l: number | string }>(
        `SELECT user_pseudonym AS p, category AS c, count() AS n, toUnixTimestamp64Milli(min(ts)) AS f, toUnixTimestamp64Milli(max(ts)) AS l
         FROM ${this.db}.events
         WHERE ts >= toDateTime64({from:String}, 3, 'UTC') AND ts < toDateTime64({to:String}, 3, 'UTC')
           AND action = 'block' AND user_pseudonym IN {ps:Array(String)} AND category IN {cs:Array(String)}
         GROUP BY p, c`,
        { from: iso(ws[0]!.from), to: iso(ws[0]!.to), ps: [...new Set(ws.map((w) => w.pseudonym))], cs: [...new Set(ws.map((w) => w.category))] });
      const got = new Map(rows.map((r) => [`${r.p}\0${r.c}`, r]));
      for (const w of ws) {
        const r = got.get(`${w.pseudonym}\0${w.category}`);
        if (r) out.push({ window: w, attempts: Number(r.n), firstSeen: Number(r.f), lastSeen: Number(r.l) });
      }
    }
    return out;
  }

  /** The largest count stored so far for each alert id (absent: never raised). */
  async storedCounts(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.store.rows<{ id: string; n: number | string }>(
      `SELECT alert_id AS id, max(attempts) AS n FROM ${this.db}.alerts WHERE alert_id IN {ids:Array(String)} GROUP BY alert_id`, { ids: [...ids] });
    return new Map(rows.map((r) => [r.id, Number(r.n)]));
  }

  async write(counts: readonly WindowCount[], now: number): Promise<void> {
    if (counts.length === 0) return;
    await this.store.insert('alerts', counts.map((c) => ({
      alert_id: c.window.id, raised_at: new Date(now).toISOString(), user_pseudonym: c.window.pseudonym, category: c.window.category,
      period_kind: c.window.kind, period_from: new Date(c.window.from).toISOString(), period_to: new Date(c.window.to).toISOString(),
      attempts: c.attempts, threshold: c.window.threshold, first_seen: new Date(c.firstSeen).toISOString(), last_seen: new Date(c.lastSeen).toISOString(),
    })));
  }

  /** Alerts, newest first (at most `limit`), or the one with `id`. */
  async list(opts: { id?: string; status?: AlertStatus; limit?: number } = {}): Promise<Alert[]> {
    if (opts.id !== undefined && !ALERT_ID_RE.test(opts.id)) return [];
    const where = opts.id ? 'WHERE alert_id = {id:String}' : '';
    const rows = await this.store.rows<Record<string, string | number>>(
      `SELECT alert_id AS id, any(user_pseudonym) AS p, any(category) AS c, any(period_kind) AS k,
              toUnixTimestamp64Milli(any(period_from)) AS f, toUnixTimestamp64Milli(any(period_to)) AS t,
              max(attempts) AS n, max(threshold) AS th, toUnixTimestamp64Milli(min(first_seen)) AS fs,
              toUnixTimestamp64Milli(max(last_seen)) AS ls, toUnixTimestamp64Milli(min(raised_at)) AS ra
       FROM ${this.db}.alerts ${where} GROUP BY alert_id ORDER BY ra DESC, id LIMIT {limit:UInt32}`,
      { id: opts.id ?? '', limit: opts.limit ?? 500 });
    if (rows.length === 0) return [];
    const acts = await this.store.rows<Record<string, string | number>>(
      `SELECT alert_id AS id, argMax(kind, ts) AS kind, argMax(actor, ts) AS actor, argMax(reason, ts) AS reason,
              argMax(request_id, ts) AS request_id, toUnixTimestamp64Milli(max(ts)) AS at
       FROM ${this.db}.alert_actions WHERE alert_id IN {ids:Array(String)} GROUP BY alert_id`, { ids: rows.map((r) => String(r.id)) });
    const acted = new Map(acts.map((a) => [String(a.id), a]));
    const alerts = rows.map((r): Alert => {
      const a = acted.get(String(r.id));
      return {
        id: String(r.id), pseudonym: String(r.p), category: String(r.c), kind: String(r.k) as PeriodKind, from: Number(r.f), to: Number(r.t),
        attempts: Number(r.n), threshold: Number(r.th), firstSeen: Number(r.fs), lastSeen: Number(r.ls), raisedAt: Number(r.ra),
        status: a ? (String(a.kind) as AlertStatus) : 'open', requestId: a && a.request_id ? String(a.request_id) : null,
        actedAt: a ? Number(a.at) : null, actedBy: a ? String(a.actor) : null, reason: a ? String(a.reason) : null,
      };
    });
    return opts.status ? alerts.filter((a) => a.status === opts.status) : alerts;
  }

  async get(id: string): Promise<Alert | null> {
    return (await this.list({ id }))[0] ?? null;
  }

  /** Open alerts: what waits for a director. */
  async openCount(): Promise<number> {
    const r = await this.store.one<{ n: number | string }>(
      `SELECT count() AS n FROM (SELECT DISTINCT alert_id FROM ${this.db}.alerts)
       WHERE alert_id NOT IN (SELECT alert_id FROM ${this.db}.alert_actions)`);
    return Number(r?.n ?? 0);
  }

  async act(id: string, kind: 'investigation' | 'dismiss', actor: string, reason: string, requestId = '', now = Date.now()): Promise<void> {
    await this.store.insert('alert_actions', [{ alert_id: id, ts: new Date(now).toISOString(), kind: kind === 'dismiss' ? 'dismissed' : 'investigation', actor, reason, request_id: requestId }]);
  }
}
