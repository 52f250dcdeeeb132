import type { Socket } from 'node:net';
import { clamdCommand, openClamd } from '../core/net/clamd.ts';

// A client for clamd's INSTREAM command (clamd(8), "INSTREAM"): "zINSTREAM\0", then chunks each
// prefixed by its length as a 4-byte big-endian integer, a zero-length chunk to finish, then one
// reply ending in \0: "stream: OK", "stream: <signature> FOUND" or "<message> ERROR". Written here
// rather than taken from npm (clamscan, clamdjs) because the proxy pushes a download's chunks as
// they arrive, needs clamd's backpressure passed on to the origin, and a bound on every wait; the
// npm clients take a whole stream or file and own their timeouts.

export type Verdict =
  | { kind: 'clean' }
  | { kind: 'infected'; signature: string }
  | { kind: 'error'; reason: string };

/** clamd's reply to INSTREAM (without the trailing \0) as a verdict. */
export function parseClamdReply(raw: string): Verdict {
  const reply = raw.replace(/[\0\r\n]+$/, '').trim();
  if (reply === 'stream: OK') return { kind: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found) return { kind: 'infected', signature: found[1]!.slice(0, 200) };
  return { kind: 'error', reason: `clamd answered "${reply.slice(0, 200) || '(nothing)'}"` };
}

/** The 4-byte big-endian length prefix of one INSTREAM chunk. */
export function chunkPrefix(length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(length, 0);
  return b;
}

export class ClamdClient {
  constructor(readonly address: string, readonly timeoutMs: number) {}

  /** Starts streaming one file to clamd. */
  scan(): ScanSession {
    return new ScanSession(openClamd(this.address), this.timeoutMs);
  }

  /** clamd's VERSION answer, e.g. "ClamAV 1.4.3/27850/Tue Dec  9 09:33:02 2025". */
  version(): Promise<string> {
    return clamdCommand(this.address, 'zVERSION\0', this.timeoutMs);
  }
}

/**
 * One file on its way to clamd. `verdict` settles once: after end() with clamd's answer, or earlier
 * with an error (no connection, clamd closed, clamd stopped reading or answering for timeoutMs).
 */
export class ScanSession {
  readonly verdict: Promise<Verdict>;
  private settle!: (v: Verdict) => void;
  private settled = false;
  private reply = '';
  private ended = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly drainWaiters: (() => void)[] = [];

  constructor(private readonly socket: Socket, private readonly timeoutMs: number) {
    this.verdict = new Promise((r) => { this.settle = r; });
    socket.setNoDelay(true);
    this.arm('connecting');
    socket.once('connect', () => this.disarm());
    socket.write('zINSTREAM\0');
    socket.on('data', (d: Buffer) => {
      this.reply += d.toString('latin1');
      if (this.reply.includes('\0')) this.finish(this.ended ? parseClamdReply(this.reply) : { kind: 'error', reason: `clamd stopped the scan: ${parseClamdReply(this.reply).kind === 'error' ? this.reply.replace(/\0.*$/s, '').slice(0, 200) : 'early answer'}` });
    });
    socket.on('drain', () => {
      this.disarm();
      for (const w of this.drainWaiters.splice(0)) w();
    });
    socket.on('error', (e) => this.finish({ kind: 'error', reason: `clamd: ${e.message}` }));
    socket.on('close', () => this.finish(this.reply ? parseClamdReply(this.reply) : { kind: 'error', reason: 'clamd closed the connection without an answer' }));
  }

  get done(): boolean {
    return this.settled;
  }

  /**
   * Sends a chunk; false when clamd is behind (wait for onDrain before sending much more).
   * `written` is called once the socket no longer needs the chunk (at once when it is not sent).
   */
  write(chunk: Buffer, written?: () => void): boolean {
    if (this.settled || this.ended || chunk.length === 0) {
      written?.();
      return true;
    }
    this.socket.write(chunkPrefix(chunk.length));
    const ok = this.socket.write(chunk, written);
    // clamd reading nothing for timeoutMs counts as a failure: the download must not wait on it for ever
    if (!ok) this.arm('reading');
    return ok;
  }

  /** Called once clamd has read what was sent (immediately when it is not behind or is done). */
  onDrain(cb: () => void): void {
    if (this.settled || this.socket.writableLength === 0) cb();
    else this.drainWaiters.push(cb);
  }

  /** The file is complete: ask for the verdict. */
  end(): void {
    if (this.settled || this.ended) return;
    this.ended = true;
    this.socket.write(chunkPrefix(0));
    this.arm('answering');
  }

  /** Not needed any more (the file is too large or the client went away). */
  abort(): void {
    this.finish({ kind: 'error', reason: 'scan abandoned' });
  }

  private arm(what: string): void {
    this.disarm();
    this.timer = setTimeout(() => this.finish({ kind: 'error', reason: `clamd was not ${what} within ${this.timeoutMs} ms` }), this.timeoutMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private finish(v: Verdict): void {
    if (this.settled) return;
    this.settled = true;
    this.disarm();
    this.socket.destroy();
    for (const w of this.drainWaiters.splice(0)) w();
    this.settle(v);
  }
}
