import { randomUUID } from 'node:crypto';
import type { Store } from '../storage/clickhouse.ts';
import { openReport, sealReport, SealError, type SealedPayload } from './seal.ts';
import { FairwatchError } from '../errors.ts';

// Reports at rest: one row per report in fairwatch.reports holding only metadata (kind, period,
// created, row counts) and the sealed payload. Writing needs only the store and the master key;
// opening is for the console, which checks the director role or a grant before calling
// `openStoredReport` and writes the audit row.

export type ReportKind = 'audit' | 'spot-check' | 'investigation';

/** The sealed payload agreed with the console: the data as JSON, the full HTML page, one CSV per table. */
export interface ReportPayload {
  kind: ReportKind;
  period: { from: string; to: string };
  json: Record<string, unknown>;
  html: string;
  csv: Record<string, string>;
  /** the built report's parts, so the console renders it as its own page (absent in older payloads) */
  report?: { title: string; summary: Record<string, string | number>; tables: Record<string, { title: string; columns: string[]; rows: Array<Array<string | number>> }>; charts: Array<{ title: string; labels: string[]; series: Array<{ name: string; values: number[] }>; unit: string }>; notes: string[] };
}

export interface ReportMeta {
  id: string;
  kind: ReportKind;
  periodFrom: string;
  periodTo: string;
  createdAt: string;
  rowCounts: Record<string, number>;
}

const iso = (s: string) => new Date(s.replace(' ', 'T') + (s.endsWith('Z') ? '' : 'Z')).toISOString();
const chTime = (isoTime: string) => new Date(isoTime).toISOString().replace('T', ' ').replace('Z', '');

/** Seals `payload` under a fresh data key and stores it; returns the new report id. */
export async function storeReport(store: Store, masterKey: Buffer, payload: ReportPayload, rowCounts: Record<string, number>): Promise<string> {
  const id = randomUUID();
  const sealed = sealReport(masterKey, id, JSON.stringify(payload));
  await store.insert('reports', [{
    report_id: id,
    kind: payload.kind,
    period_from: chTime(payload.period.from),
    period_to: chTime(payload.period.to),
    created_at: chTime(new Date().toISOString()),
    row_counts: rowCounts,
    ...sealed,
  }]);
  return id;
}

interface Row {
  report_id: string; kind: ReportKind; period_from: string; period_to: string; created_at: string; row_counts: Record<string, number>;
}
const META_COLUMNS = 'report_id, kind, period_from, period_to, created_at, row_counts';
const toMeta = (r: Row): ReportMeta => ({
  id: r.report_id, kind: r.kind, periodFrom: iso(r.period_from), periodTo: iso(r.period_to), createdAt: iso(r.created_at),
  rowCounts: Object.fromEntries(Object.entries(r.row_counts).map(([k, v]) => [k, Number(v)])),
});

/** Metadata of stored reports, newest first (never the payload). */
export async function listReports(store: Store, opts: { kind?: ReportKind; limit?: number } = {}): Promise<ReportMeta[]> {
  const rows = await store.rows<Row>(
    `SELECT ${META_COLUMNS} FROM ${store.database}.reports WHERE {kind:String} = '' OR kind = {kind:String} ORDER BY created_at DESC, report_id LIMIT {limit:UInt32}`,
    { kind: opts.kind ?? '', limit: opts.limit ?? 200 });
  return rows.map(toMeta);
}

export async function reportMeta(store: Store, id: string): Promise<ReportMeta | null> {
  if (!isUuid(id)) return null;
  const r = await store.one<Row>(`SELECT ${META_COLUMNS} FROM ${store.database}.reports WHERE report_id = {id:UUID} LIMIT 1`, { id });
  return r ? toMeta(r) : null;
}

export class ReportNotFound extends FairwatchError {
  constructor(message: string) {
    super('FW_REPORT_NOT_FOUND', message);
  }
}

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/**
 * Opens a stored report. Callers check authorisation first (director, or an unexpired grant) and
 * append the audit row; this function only decrypts. Throws ReportNotFound or SealError.
 */
export async function openStoredReport(store: Store, masterKey: Buffer, id: string): Promise<{ meta: ReportMeta; payload: ReportPayload }> {
  if (!isUuid(id)) throw new ReportNotFound(`report id "${id}" is not a UUID`);
  const r = await store.one<Row & SealedPayload>(
    `SELECT ${META_COLUMNS}, key_id, wrapped_key, iv, tag, ciphertext FROM ${store.database}.reports WHERE report_id = {id:UUID} LIMIT 1`, { id });
  if (!r) throw new ReportNotFound(`no report ${id} (it may have expired under retention.reportsDays)`);
  const plain = openReport(masterKey, id, r);
  try {
    return { meta: toMeta(r), payload: JSON.parse(plain.toString('utf8')) as ReportPayload };
  } catch (e) {
    throw new SealError(`report ${id} opened but its payload is not JSON: ${(e as Error).message}`);
  }
}
