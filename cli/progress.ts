import type { ProgressSink, ProgressUpdate } from '../core/progress.ts';

// Progress for long commands: one line on standard error, redrawn in place, only when standard error
// is a terminal (piped or redirected output stays exactly as before). Commands carried out by a
// running `fairwatch start` over the control socket get no progress: their output travels back in
// one answer at the end, so a moving line could not be shown.

const n = (x: number) => Math.round(x).toLocaleString('en-GB');

export function formatAmount(v: number, unit: NonNullable<ProgressUpdate['unit']>): string {
  if (unit !== 'bytes') return `${n(v)} ${unit}`;
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(1)} GB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(0)} kB`;
  return `${v} B`;
}

export function formatDuration(s: number): string {
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m ${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h ${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The progress line for an update `elapsedMs` after the step began: counts, rate and time left
 * (time left only when the total is known and something is done). Pure, so it is tested directly.
 */
export function formatProgress(u: ProgressUpdate, elapsedMs: number): string {
  const secs = elapsedMs / 1000;
  const parts = [u.step];
  if (!u.unit) return secs >= 1 ? `${u.step} · ${formatDuration(secs)}` : u.step;
  if (u.count) parts.push(`${n(u.count.n)} ${u.count.unit}`);
  const total = u.total !== undefined && u.total > 0 ? u.total : undefined;
  const done = total !== undefined ? Math.min(u.done, total) : u.done;
  parts.push(total !== undefined
    ? `${formatAmount(done, u.unit)} of ${formatAmount(total, u.unit)} (${Math.floor((done / total) * 100)}%)`
    : formatAmount(done, u.unit));
  if (secs >= 1) {
    const rated = u.count ?? { n: done, unit: u.unit };
    const rate = rated.n / secs;
    parts.push(u.count || u.unit !== 'bytes' ? `${n(rate)} ${rated.unit}/s` : `${formatAmount(rate, 'bytes')}/s`);
    if (total !== undefined && done > 0 && done < total) parts.push(`${formatDuration(((total - done) / done) * secs)} left`);
  }
  return parts.join(' · ');
}

export interface TerminalProgress {
  sink: ProgressSink;
  /** clears the line (call before the command prints its result) */
  end(): void;
}

/**
 * Draws updates on `stream` when it is a TTY; otherwise a sink that does nothing. Redraws at most
 * every `everyMs` (a chatty caller costs nothing), and always on a new step and on completion.
 */
export function terminalProgress(stream: NodeJS.WriteStream, opts: { everyMs?: number; now?: () => number } = {}): TerminalProgress {
  if (!stream.isTTY) return { sink: () => {}, end: () => {} };
  const now = opts.now ?? Date.now;
  const everyMs = opts.everyMs ?? 250;
  let step = '';
  let began = 0;
  let last = -Infinity;
  let shown = false;
  return {
    sink(u) {
      const t = now();
      if (u.step !== step) { step = u.step; began = t; last = -Infinity; }
      const complete = u.total !== undefined && u.done >= u.total;
      if (t - last < everyMs && !complete) return;
      last = t;
      const width = Math.max(20, (stream.columns || 80) - 1);
      stream.write(`\r\x1b[2K${formatProgress(u, t - began).slice(0, width)}`);
      shown = true;
    },
    end() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
