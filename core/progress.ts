/**
 * How far a long operation has got. Operations in core/ and analyser/ report through an optional
 * callback; only the command line draws it (cli/progress.ts), and only on a terminal.
 */
export interface ProgressUpdate {
  /** what is happening now, e.g. "reading access.log", "table events" */
  step: string;
  /** amount done so far, in `unit` */
  done: number;
  /** amount in all, when known: gives a percentage and time left */
  total?: number;
  /** absent for a step with nothing to count (shown with the time it has taken so far) */
  unit?: 'bytes' | 'rows' | 'lines' | 'tables' | 'files';
  /** a second count shown with its rate, e.g. lines read while progress is measured in bytes */
  count?: { n: number; unit: string };
}

export type ProgressSink = (u: ProgressUpdate) => void;
