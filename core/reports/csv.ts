import type { Cell, ReportTable } from './model.ts';

// RFC 4180 CSV. A cell starting with = + - @ is prefixed with ' so a spreadsheet never runs a
// host name or file name from the logs as a formula.

function cell(v: Cell): string {
  let s = typeof v === 'number' ? String(v) : v;
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(t: Pick<ReportTable, 'columns' | 'rows'>): string {
  const lines = [t.columns.map(cell).join(',')];
  for (const r of t.rows) lines.push(r.map(cell).join(','));
  return lines.join('\r\n') + '\r\n';
}
