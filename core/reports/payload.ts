import { storeReport, type ReportPayload } from './storage.ts';
import type { Store } from '../storage/clickhouse.ts';
import { toCsv } from './csv.ts';
import { renderHtml } from './html.ts';
import type { BuiltReport } from './model.ts';

/** The sealed payload agreed with the console, rendered from a built report. */
export function toPayload(r: BuiltReport, organisation: string): ReportPayload {
  return {
    kind: r.kind,
    period: r.period,
    json: { title: r.title, summary: r.summary, ...r.data, notes: r.notes },
    html: renderHtml(r, organisation),
    csv: Object.fromEntries(Object.entries(r.tables).map(([k, t]) => [k, toCsv(t)])),
    report: { title: r.title, summary: r.summary, tables: r.tables, charts: r.charts, notes: r.notes },
  };
}

/** Renders, seals and stores a built report; returns its id. Row counts are metadata only. */
export async function saveBuiltReport(store: Store, masterKey: Buffer, r: BuiltReport, organisation: string): Promise<string> {
  const rowCounts = Object.fromEntries(Object.entries(r.tables).map(([k, t]) => [k, t.rows.length]));
  return storeReport(store, masterKey, toPayload(r, organisation), rowCounts);
}
