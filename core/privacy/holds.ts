import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/clickhouse.ts';
import { EVENT_COLUMNS } from '../storage/tables.ts';
import { heldReportsTable } from './tables.ts';
import { FairwatchError } from '../errors.ts';

// Legal holds: a request from a third party (police, a regulator, a court) that needs records kept
// past retention. Opening one copies the matching events (people × period) and the reports whose
// period overlaps it into held_events / held_reports, which have no TTL; releasing it deletes the
// copies, after which retention applies again. The open/release rows in legal_holds are the record.

export class HoldError extends FairwatchError {
  declare readonly httpStatus: 400 | 404 | 409;
  constructor(message: string, status: 400 | 404 | 409 = 400) {
    super('FW_HOLD', message, { httpStatus: status, exitCode: status === 400 ? 2 : 1 });
  }
}

export interface HoldRequest {
  requestingBody: string;
  reference: string;
  legalBasis: string;
  /** pseudonyms of the people in scope (at least one) */
  subjects: string[];
  from: Date;
  to: Date;
  actor: string;
  note?: string;
}

export interface Hold {
  id: string;
  status: 'open' | 'released';
  requestingBody: string;
  reference: string;
  legalBasis: string;
  subjects: string[];
  from: string;
  to: string;
  openedAt: string;
  openedBy: string;
  releasedAt: string | null;
  releasedBy: string | null;
  releaseNote: string;
  heldEvents: number;
  heldReports: number;
}

/** Field problems of a request, named as the request fields are (pure). */
export function holdRequestProblem(r: Partial<HoldRequest>): string | null {
  if (!r.requestingBody?.trim()) return 'requesting body: required (who asks, e.g. "Thames Valley Police")';
  if (!r.reference?.trim()) return 'reference: required (their reference for the request)';
  if (!r.legalBasis?.trim()) return 'legal basis: required (e.g. "DPA 2018 Sch 2 para 2 (crime and taxation)")';
  if (!r.subjects?.length) return 'people: at least one person is required';
  if (!(r.from instanceof Date) || Number.isNaN(r.from.getTime())) return 'from: expected an ISO 8601 time';
  if (!(r.to instanceof Date) || Number.isNaN(r.to.getTime())) return 'to: expected an ISO 8601 time';
  if (r.to <= r.from) return 'to: must be after from';
  return null;
}

interface HoldRow {
  hold_id: string;
  ts: string;
  kind: string;
  requesting_body: string;
  reference: string;
  legal_basis: string;
  subjects: string[];
  period_from: string;
  period_to: string;
  actor: string;
  note: string;
  held_events: number | string;
  held_reports: number | string;
}

/** Folds open/release rows into holds (pure). */
export function foldHolds(rows: readonly HoldRow[]): Hold[] {
  const byId = new Map<string, Hold>();
  for (const r of [...rows].sort((a, b) => a.ts.localeCompare(b.ts))) {
    if (r.kind === 'open' && !byId.has(r.hold_id)) {
      byId.set(r.hold_id, {
        id: r.hold_id, status: 'open', requestingBody: r.requesting_body, reference: r.reference, legalBasis: r.legal_basis,
        subjects: r.subjects, from: iso(r.period_from), to: iso(r.period_to), openedAt: iso(r.ts), openedBy: r.actor,
        releasedAt: null, releasedBy: null, releaseNote: '', heldEvents: Number(r.held_events), heldReports: Number(r.held_reports),
      });
    } else if (r.kind === 'release') {
      const h = byId.get(r.hold_id);
      if (h && h.status === 'open') Object.assign(h, { status: 'released', releasedAt: iso(r.ts), releasedBy: r.actor, releaseNote: r.note });
    }
  }
  return [...byId.values()].sort((a, b) => b.openedAt.localeCompare(a.openedAt));
}

const iso = (chTime: string) => new Date(chTime.includes('T') ? chTime : chTime.replace(' ', 'T') + 'Z').toISOString();
const ms = (d: Date) => d.getTime();

export class LegalHolds {
  constructor(private readonly store: Store) {}

  private get db() { return this.store.database; }

  async list(): Promise<Hold[]> {
    return foldHolds(await this.store.rows<HoldRow>(`SELECT * FROM ${this.db}.legal_holds`));
  }

  async get(id: string): Promise<Hold | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    return (await this.list()).find((h) => h.id === id.toLowerCase()) ?? null;
  }

  /** Opens a hold: copies what it covers, then records it with the counts. */
  async open(r: HoldRequest): Promise<Hold> {
    const problem = holdRequestProblem(r);
    if (problem) throw new HoldError(problem);
    const id = randomUUID();
    const params = { h: id, s: r.subjects, from: ms(r.from), to: ms(r.to) };
    const window = `ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
    await this.store.insertSelect('held_events', ['hold_id', ...EVENT_COLUMNS],
      `SELECT {h:UUID}, ${EVENT_COLUMNS.join(', ')} FROM ${this.db}.events WHERE user_pseudonym IN {s:Array(String)} AND ${window}`, params);
    const reportCols = heldReportsTable.columns.map(([n]) => n).filter((n) => n !== 'hold_id');
    await this.store.insertSelect('held_reports', ['hold_id', ...reportCols],
      `SELECT {h:UUID}, ${reportCols.join(', ')} FROM ${this.db}.reports
       WHERE period_from < fromUnixTimestamp64Milli({to:Int64}, 'UTC') AND period_to > fromUnixTimestamp64Milli({from:Int64}, 'UTC')`, params);
    const counts = await this.counts(id);
    await this.store.insert('legal_holds', [{
      hold_id: id, ts: new Date().toISOString(), kind: 'open', requesting_body: r.requestingBody.trim(), reference: r.reference.trim(),
      legal_basis: r.legalBasis.trim(), subjects: r.subjects, period_from: r.from.toISOString(), period_to: r.to.toISOString(),
      actor: r.actor, note: r.note ?? '', held_events: counts.events, held_reports: counts.reports,
    }]);
    return (await this.get(id))!;
  }

  async counts(id: string): Promise<{ events: number; reports: number }> {
    const e = await this.store.one<{ n: number }>(`SELECT count() AS n FROM ${this.db}.held_events WHERE hold_id = {h:UUID}`, { h: id });
    const rp = await this.store.one<{ n: number }>(`SELECT count() AS n FROM ${this.db}.held_reports WHERE hold_id = {h:UUID}`, { h: id });
    return { events: Number(e?.n ?? 0), reports: Number(rp?.n ?? 0) };
  }

  /** Releases a hold: its copies are deleted, so retention applies to those records again. */
  async release(id: string, actor: string, note: string): Promise<Hold> {
    const h = await this.get(id);
    if (!h) throw new HoldError(`no legal hold ${id}`, 404);
    if (h.status !== 'open') throw new HoldError(`legal hold ${id} was already released on ${h.releasedAt}`, 409);
    if (!note.trim()) throw new HoldError('reason: say why the hold ends (e.g. "case closed, letter of 3 May")');
    await this.store.insert('legal_holds', [{
      hold_id: id, ts: new Date().toISOString(), kind: 'release', requesting_body: h.requestingBody, reference: h.reference,
      legal_basis: h.legalBasis, subjects: h.subjects, period_from: h.from, period_to: h.to, actor, note: note.trim(),
      held_events: 0, held_reports: 0,
    }]);
    // mutations_sync: the copies are gone when the command says so
    await this.store.command(`ALTER TABLE ${this.db}.held_events DELETE WHERE hold_id = {h:UUID}`, { h: id }, { mutations_sync: '2' });
    await this.store.command(`ALTER TABLE ${this.db}.held_reports DELETE WHERE hold_id = {h:UUID}`, { h: id }, { mutations_sync: '2' });
    return (await this.get(id))!;
  }

  /** The held events of one hold, oldest first (for its evidence pack). */
  async heldEvents(id: string): Promise<HeldEvent[]> {
    return this.store.rows<HeldEvent>(
      `SELECT toUnixTimestamp64Milli(ts) AS t, toString(event_id) AS event_id, user_pseudonym, user_group, host, path, status, category, action,
              bytes_up, bytes_down, filename, flags
       FROM ${this.db}.held_events WHERE hold_id = {h:UUID} ORDER BY ts, event_id`, { h: id });
  }

  /** What retention cannot delete now, and why: one line per open hold. */
  async retentionSummary(): Promise<Array<{ id: string; reference: string; requestingBody: string; legalBasis: string; events: number; reports: number }>> {
    const open = (await this.list()).filter((h) => h.status === 'open');
    const out = [];
    for (const h of open) {
      const c = await this.counts(h.id);
      out.push({ id: h.id, reference: h.reference, requestingBody: h.requestingBody, legalBasis: h.legalBasis, events: c.events, reports: c.reports });
    }
    return out;
  }
}

export interface HeldEvent {
  t: number;
  event_id: string;
  user_pseudonym: string;
  user_group: string;
  host: string;
  path: string;
  status: number;
  category: string;
  action: string;
  bytes_up: number;
  bytes_down: number;
  filename: string;
  flags: string[];
}
