import type { ConsoleDeps } from './deps.ts';
import { openReport, type SealedPayload } from '../core/reports/seal.ts';
import type { ReportPayload } from '../core/reports/storage.ts';

// Reading the `reports` table: metadata for lists, and the sealed payload opened with the report
// master key for someone the route has already checked.

export interface ReportMeta {
  id: string;
  kind: string;
  periodFrom: number;
  periodTo: number;
  createdAt: number;
  rowCounts: Record<string, number>;
}

interface MetaRow {
  report_id: string;
  kind: string;
  from_ms: number | string;
  to_ms: number | string;
  created_ms: number | string;
  row_counts: Record<string, number | string>;
}

const META = `report_id, kind, toUnixTimestamp64Milli(period_from) AS from_ms, toUnixTimestamp64Milli(period_to) AS to_ms,
  toUnixTimestamp64Milli(created_at) AS created_ms, row_counts`;

function meta(r: MetaRow): ReportMeta {
  return {
    id: r.report_id, kind: r.kind, periodFrom: Number(r.from_ms), periodTo: Number(r.to_ms), createdAt: Number(r.created_ms),
    rowCounts: Object.fromEntries(Object.entries(r.row_counts ?? {}).map(([k, v]) => [k, Number(v)])),
  };
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function listReports(deps: ConsoleDeps, limit = 500): Promise<ReportMeta[]> {
  const rows = await deps.store.rows<MetaRow>(`SELECT ${META} FROM ${deps.store.database}.reports ORDER BY created_at DESC LIMIT {limit:UInt32}`, { limit });
  return rows.map(meta);
}

export async function reportMeta(deps: ConsoleDeps, id: string): Promise<ReportMeta | null> {
  if (!UUID_RE.test(id)) return null;
  const r = await deps.store.one<MetaRow>(`SELECT ${META} FROM ${deps.store.database}.reports WHERE report_id = {id:UUID} LIMIT 1`, { id });
  return r ? meta(r) : null;
}

export interface ReportContent {
  meta: ReportMeta;
  /** the generator's parts: `html` (rendered sandboxed) and `json` */
  html: string | null;
  json: unknown;
  /** CSV per table, by table key */
  csv: Record<string, string>;
  /** the built report's parts, rendered as the console page (absent in payloads written before it was stored) */
  built: NonNullable<ReportPayload['report']> | null;
}

export async function readReport(deps: ConsoleDeps, id: string): Promise<ReportContent | null> {
  const m = await reportMeta(deps, id);
  if (!m) return null;
  const sealed = await deps.store.one<SealedPayload>(
    `SELECT key_id, wrapped_key, iv, tag, ciphertext FROM ${deps.store.database}.reports WHERE report_id = {id:UUID} LIMIT 1`, { id });
  // a wrong or rotated key, or a changed byte: SealError answers 503 with what went wrong
  const plain = openReport(deps.reportKey, id, sealed!).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain);
  } catch {
    parsed = { text: plain };
  }
  const obj = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const csv = obj.csv && typeof obj.csv === 'object' ? Object.fromEntries(Object.entries(obj.csv as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string> : {};
  const built = obj.report && typeof obj.report === 'object' ? obj.report as NonNullable<ReportPayload['report']> : null;
  return { meta: m, html: typeof obj.html === 'string' ? obj.html : null, json: 'json' in obj ? obj.json : obj, csv, built };
}
