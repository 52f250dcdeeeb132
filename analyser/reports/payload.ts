import { storeReport, type ReportPayload } from '../../core/reports/storage.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { toCsv } from '../../core/reports/csv.ts';
import { renderHtml } from './html.ts';
import type { BuiltReport } from '../../core/reports/model.ts';

/** The sealed payload agreed with the console, rendered from a built report. */
export function toPayload(r: BuiltReport, organisation: string): ReportPayload {
  return {
    kind: r.kind,
    period: r.period,
    json: { title: r.title, summary: r.summary, ...r.data, notes: r.notes },
    html: renderHtml(r, organisation),
    csv: Object.fromEntries(Object.entries(r.tables).map(([k, t]) => [k, toCsv(t)])),
  };
}

/** Renders, seals and stores a built report; returns its id. Row counts are metadata only. */
export async function saveBuiltReport(store: Store, masterKey: Buffer, r: BuiltReport, organisation: string): Promise<string> {
  const rowCounts = Object.fromEntries(Object.entries(r.tables).map(([k, t]) => [k, t.rows.length]));
  return storeReport(store, masterKey, toPayload(r, organisation), rowCounts);
}
