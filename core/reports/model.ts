// What every report builder returns: its data (the JSON), tables (rendered as CSV and HTML) and
// charts (SVG, rendered server-side). Pseudonyms only; an investigation report is the one place a
// subject is named, because a director opened it for a stated allegation.

import type { ReportKind } from './storage.ts';

export type { ReportKind };
export type Cell = string | number;

export interface ReportTable {
  title: string;
  columns: string[];
  rows: Cell[][];
}

export interface ReportChart {
  title: string;
  /** x-axis labels */
  labels: string[];
  series: Array<{ name: string; values: number[] }>;
  unit: string;
}

export interface BuiltReport {
  kind: ReportKind;
  /** ISO instants, [from, to) */
  period: { from: string; to: string };
  title: string;
  /** headline figures shown first */
  summary: Record<string, Cell>;
  /** the report's data as JSON (what `json` holds in the sealed payload) */
  data: Record<string, unknown>;
  tables: Record<string, ReportTable>;
  charts: ReportChart[];
  notes: string[];
}

export type { ReportPayload } from './storage.ts';
