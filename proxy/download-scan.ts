import { counter } from '../core/metrics.ts';
import { releaseWhenAllWritten, releaseWhenWritten } from './read-buffers.ts';
import type { ScanSession, Verdict } from './virus-scan.ts';

// One response body on its way to the browser while clamd reads it too (forward.ts). Up to
// scan.holdKB the whole response waits — headers included — so an infected small file gets the
// block page; beyond that the headers and all but the newest chunk go on, and the newest chunk
// waits for the verdict, so an infected file never arrives complete (the connection is cut
// instead). Past scan.maxMB the scan is dropped and the rest passes, flagged `unscanned`. A chunk
// goes to clamd and to the browser, and its read buffer is freed once both writes are done.

export const scansTotal = counter('fairwatch_virus_scans_total', 'Downloads given to clamd, by outcome (clean, infected, error, unscanned)', ['outcome']);

/** What the forwarder does for the scan. */
export interface ScanOutlet {
  /** send the held response headers (once) */
  head(): void;
  /** a body chunk to the browser; false when the browser is behind; `written` once it has gone */
  write(chunk: Buffer, written?: () => void): boolean;
  end(): void;
  pauseOrigin(): void;
  resumeOrigin(): void;
  flag(f: string): void;
  /** infected, or clamd failed under onError=block: page (headers not sent) or cut (sent) */
  refuse(v: Exclude<Verdict, { kind: 'clean' }>): void;
}

type Mode = 'holding' | 'streaming' | 'passing' | 'over';

export class DownloadScan {
  private mode: Mode = 'holding';
  /** chunks clamd has been given, waiting to go to the browser, each with its second write's callback */
  private held: Array<{ chunk: Buffer; written: (() => void) | undefined }> = [];
  private heldBytes = 0;
  private seen = 0;
  private originEnded = false;
  private headSent = false;

  constructor(private readonly session: ScanSession, private readonly out: ScanOutlet, private readonly limits: { maxBytes: number; holdBytes: number; onError: 'allow' | 'block' }) {
    void session.verdict.then((v) => this.verdict(v));
  }

  data(chunk: Buffer): void {
    if (this.mode === 'over') return;
    if (this.mode === 'passing') {
      this.send(chunk, releaseWhenWritten(chunk));
      return;
    }
    this.seen += chunk.length;
    if (this.seen > this.limits.maxBytes) {
      this.session.abort();
      this.out.flag('unscanned');
      scansTotal.inc({ outcome: 'unscanned' });
      this.release();
      this.send(chunk, releaseWhenWritten(chunk));
      return;
    }
    const written = releaseWhenAllWritten(chunk, 2);
    if (!this.session.write(chunk, written)) {
      // clamd is behind: the origin waits for it (the session's own timer bounds the wait)
      this.out.pauseOrigin();
      this.session.onDrain(() => this.out.resumeOrigin());
    }
    this.held.push({ chunk, written });
    this.heldBytes += chunk.length;
    if (this.mode === 'holding' && this.heldBytes > this.limits.holdBytes) {
      this.mode = 'streaming';
      this.sendHead();
    }
    if (this.mode === 'streaming') {
      // everything but the newest chunk goes on
      while (this.held.length > 1) {
        const c = this.held.shift()!;
        this.heldBytes -= c.chunk.length;
        this.send(c.chunk, c.written);
      }
    }
  }

  end(): void {
    this.originEnded = true;
    if (this.mode === 'passing') this.finish();
    else if (this.mode !== 'over') this.session.end();
  }

  /** The browser went away or the exchange failed: clamd is not needed any more. */
  abandon(): void {
    this.mode = 'over';
    this.held = [];
    this.session.abort();
  }

  private verdict(v: Verdict): void {
    if (this.mode === 'over' || this.mode === 'passing') return;
    if (v.kind === 'clean') {
      scansTotal.inc({ outcome: 'clean' });
      this.out.flag('virus-scanned');
      this.release();
      return;
    }
    if (v.kind === 'error') {
      scansTotal.inc({ outcome: 'error' });
      this.out.flag('scan-error');
      if (this.limits.onError === 'allow') {
        this.release();
        return;
      }
    } else {
      scansTotal.inc({ outcome: 'infected' });
    }
    this.mode = 'over';
    this.held = [];
    this.out.refuse(v);
  }

  /** Everything held goes on; from now on chunks pass straight through. */
  private release(): void {
    this.mode = 'passing';
    this.sendHead();
    for (const c of this.held.splice(0)) this.send(c.chunk, c.written);
    this.heldBytes = 0;
    if (this.originEnded) this.finish();
  }

  private sendHead(): void {
    if (this.headSent) return;
    this.headSent = true;
    this.out.head();
  }

  private send(chunk: Buffer, written: (() => void) | undefined): void {
    if (!this.out.write(chunk, written)) this.out.pauseOrigin();
  }

  private finish(): void {
    this.mode = 'over';
    this.out.end();
  }
}
