import { escapeHtml } from '../pages/html.ts';
import type { BuiltReport, Cell } from './model.ts';
import { barChartSvg } from './svg.ts';

// The report as one self-contained HTML document (inline CSS and SVG, no scripts), so the console
// can serve it as-is and a director can save or print it.

const fmt = (v: Cell) => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-GB') : v.toLocaleString('en-GB', { maximumFractionDigits: 2 })) : v);

export function renderHtml(r: BuiltReport, organisation: string): string {
  const e = escapeHtml;
  const parts: string[] = [];
  parts.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${e(r.title)}</title><style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}.note{color:#555}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}</style></head><body>`);
  parts.push(`<h1>${e(r.title)}</h1>`);
  parts.push(`<p>${e(organisation)} · period ${e(r.period.from)} to ${e(r.period.to)} · generated ${e(new Date().toISOString())}</p>`);
  parts.push('<dl>');
  for (const [k, v] of Object.entries(r.summary)) parts.push(`<dt>${e(k)}</dt><dd>${e(String(fmt(v)))}</dd>`);
  parts.push('</dl>');
  for (const c of r.charts) parts.push(`<figure>${barChartSvg(c)}</figure>`);
  for (const t of Object.values(r.tables)) {
    parts.push(`<h2>${e(t.title)}</h2>`);
    if (t.rows.length === 0) {
      parts.push('<p class="note">None in this period.</p>');
      continue;
    }
    parts.push('<table><thead><tr>' + t.columns.map((c) => `<th>${e(c)}</th>`).join('') + '</tr></thead><tbody>');
    for (const row of t.rows) parts.push('<tr>' + row.map((v) => `<td${typeof v === 'number' ? ' class="n"' : ''}>${e(String(fmt(v)))}</td>`).join('') + '</tr>');
    parts.push('</tbody></table>');
  }
  for (const n of r.notes) parts.push(`<p class="note">${e(n)}</p>`);
  parts.push('</body></html>');
  return parts.join('\n');
}
