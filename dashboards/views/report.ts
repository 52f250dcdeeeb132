import { html, raw } from 'hono/html';
import { barChartSvg } from '../../core/reports/svg.ts';
import type { ReportContent } from '../reports.ts';
import { csrfField, when, type Fragment } from './layout.ts';

// A sealed report as a console page: headline figures, server-rendered SVG charts, the tables a
// director looks figures up in, and the notes. Every value goes through hono's escaping; the chart
// SVG comes from core/reports/svg.ts, which escapes every label. CSV and JSON are downloads, never
// printed on the page.

/** Rows shown in the page per table; the CSV download has them all. */
export const PAGE_ROWS = 500;

const fmt = (v: string | number) => (typeof v === 'number' ? v.toLocaleString('en-GB', { maximumFractionDigits: 2 }) : v);

function summaryOf(r: ReportContent): Record<string, string | number> | null {
  if (r.built) return r.built.summary;
  const j = r.json as { summary?: unknown } | null;
  return j && typeof j.summary === 'object' && j.summary ? j.summary as Record<string, string | number> : null;
}

export function reportBody(r: ReportContent, opts: { exportAction: string; csrf: string }): Fragment {
  const summary = summaryOf(r);
  const b = r.built;
  const tables = b ? Object.entries(b.tables) : [];
  const downloads = Object.keys(r.csv);
  return html`<p class="hint">Period ${when(r.meta.periodFrom)} – ${when(r.meta.periodTo)} · created ${when(r.meta.createdAt)} · report ${r.meta.id}</p>
${b ? html`<p class="lead"><strong>${b.title}</strong></p>` : ''}
${summary ? html`<h2>Headline figures</h2><dl class="summary">${Object.entries(summary).map(([k, v]) => html`<div><dt>${k}</dt><dd>${fmt(v)}</dd></div>`)}</dl>` : ''}
${b && b.charts.length ? html`<h2>Charts</h2>${b.charts.map((c) => html`<figure class="chart">${raw(barChartSvg(c))}<figcaption class="hint">${c.title} (${c.unit})</figcaption></figure>`)}` : ''}
${tables.map(([key, t]) => html`<h2 id="table-${key}">${t.title}</h2>${t.rows.length === 0 ? html`<p class="hint">None in this period.</p>` : html`<div class="scroll"><table><thead><tr>${t.columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead><tbody>
${t.rows.slice(0, PAGE_ROWS).map((row) => html`<tr>${row.map((v) => (typeof v === 'number' ? html`<td class="n">${fmt(v)}</td>` : html`<td>${v}</td>`))}</tr>`)}
</tbody></table></div>${t.rows.length > PAGE_ROWS ? html`<p class="hint">The first ${PAGE_ROWS} of ${t.rows.length} rows; the CSV download has them all.</p>` : ''}`}`)}
${!b ? html`<p class="hint">This report was stored before the console drew reports itself: its figures and tables are in the downloads below.</p>` : ''}
${b ? b.notes.map((n) => html`<p class="hint">${n}</p>`) : ''}
<section class="no-print" aria-labelledby="dl-h"><h2 id="dl-h">Download</h2>
<form method="post" action="${opts.exportAction}" class="downloads">${csrfField(opts.csrf)}
<label>Format <select name="format"><option value="json">JSON (the whole report)</option>${downloads.map((k) => html`<option value="csv:${k}">CSV: ${b?.tables[k]?.title ?? k}</option>`)}</select></label>
<label>Your password (to confirm it is you) <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Download</button></form>
<p class="hint">To print, use the browser's print command: navigation and forms are left out.</p></section>`;
}

/** The download a report export form asked for: the whole report as JSON, or one table as CSV. */
export function reportDownload(r: ReportContent, format: string): { body: string; type: string; name: string } | { error: string } {
  const id = r.meta.id;
  if (format === '' || format === 'json') {
    return { body: JSON.stringify({ id, kind: r.meta.kind, html: r.html, json: r.json, csv: r.csv }, null, 2), type: 'application/json', name: `fairwatch-report-${id}.json` };
  }
  const table = format.startsWith('csv:') ? format.slice(4) : null;
  if (table === null || !(table in r.csv)) return { error: `format: expected json or one of ${Object.keys(r.csv).map((k) => `csv:${k}`).join(', ') || '(no tables)'}` };
  return { body: r.csv[table]!, type: 'text/csv; charset=utf-8', name: `fairwatch-report-${id}-${table.replace(/[^a-z0-9_-]/gi, '_')}.csv` };
}
