import type { ReportChart } from './model.ts';
import { escapeHtml } from '../pages/html.ts';

// Grouped bar charts as inline SVG, rendered on the server so a report needs no script to read
// and prints as it looks.

const COLOURS = ['#1f5fa8', '#d9822b', '#5a9e4b', '#8c4fa3', '#b33a3a', '#6b6b6b'];

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toFixed(1));
}

export const MAX_BARS = 31;

export function barChartSvg(c: ReportChart): string {
  // up to a month of days (the audit's daily trend); longer series are cut by their builder
  const labels = c.labels.slice(0, MAX_BARS);
  const n = Math.max(labels.length, 1);
  const groups = c.series.length || 1;
  const left = 56, top = 28, bottom = 80, right = 12;
  const slot = Math.max(24, Math.min(64, Math.floor(720 / n)));
  // wide enough for the title even with one or two bars
  const width = Math.max(left + right + slot * n, 360);
  const height = 260;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(0, ...c.series.flatMap((s) => s.values.slice(0, labels.length))));
  const bw = Math.max(3, Math.floor((slot - 6) / groups));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<title>${escapeHtml(c.title)}</title>`);
  out.push(`<text x="${left}" y="16" font-size="13" font-weight="bold">${escapeHtml(c.title)} (${escapeHtml(c.unit)})</text>`);
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    out.push(`<line x1="${left}" x2="${width - right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 4}" y="${y + 4}" text-anchor="end">${short((max * i) / 4)}</text>`);
  }
  labels.forEach((label, i) => {
    const x0 = left + i * slot + 3;
    c.series.forEach((s, g) => {
      const v = s.values[i] ?? 0;
      const h = (plotH * v) / max;
      out.push(`<rect x="${x0 + g * bw}" y="${(top + plotH - h).toFixed(1)}" width="${bw - 1}" height="${h.toFixed(1)}" fill="${COLOURS[g % COLOURS.length]}"><title>${escapeHtml(`${label} · ${s.name}: ${short(v)} ${c.unit}`)}</title></rect>`);
    });
    const lx = x0 + slot / 2;
    out.push(`<text x="${lx}" y="${top + plotH + 12}" text-anchor="end" transform="rotate(-40 ${lx} ${top + plotH + 12})">${escapeHtml(label.length > 18 ? label.slice(0, 17) + '…' : label)}</text>`);
  });
  c.series.forEach((s, g) => {
    const x = left + g * 120;
    out.push(`<rect x="${x}" y="${height - 14}" width="10" height="10" fill="${COLOURS[g % COLOURS.length]}"/><text x="${x + 14}" y="${height - 5}">${escapeHtml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}
