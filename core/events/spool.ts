import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { isAlive } from '../storage/redis.ts';

// The disk spool: where a sink puts event batches while Redis is unreachable. Each sink owns one
// directory `spool/<pid>-<id>` (`spool/<pid>t<thread>-<id>` for a sink in a worker thread); batches are appended as one JSON line each to numbered segment
// files, fsynced per batch, and replayed segment by segment in order. A directory whose owner
// process died (a SIGKILLed proxy worker) is adopted by a live sink by renaming it, which is atomic,
// so two sinks never replay the same segment.
//
// Beside the segments, each sink keeps a journal (`*.jnl`): every event is appended there the moment
// it is emitted (one write into the page cache, no fsync), and journal files are deleted as soon as
// their events are in the stream or the spool. If the proxy worker is SIGKILLed, the adopting sink
// replays the journal events that never reached either, so a response the client received cannot
// lose its event to a killed process.

/** One batch as written to a segment: sink id, batch sequence number, events (wire lines). */
export interface SpoolBatch {
  sink: string;
  seq: number;
  events: string[];
}

export interface SegmentContents {
  batches: SpoolBatch[];
  /** lines that could not be parsed (a write torn by a crash), as `file:line: reason` */
  problems: string[];
}

const SEGMENT_BYTES = 8 << 20;
const JOURNAL_BYTES = 4 << 20;
const SEG_RE = /^(\d{12})\.seg$/;
const JNL_RE = /^(\d{15})\.jnl$/;

/** Sinks alive in this thread, so a closed sink's directory can be adopted by a newer one here. */
const liveHere = new Set<string>();
/** Threads of this process known to have exited: their sinks' directories may be adopted. */
const deadThreads = new Set<number>();

/** The owner part of a sink id: this process's pid, plus the thread when not the main thread. */
export function sinkOwner(): string {
  return threadId === 0 ? String(process.pid) : `${process.pid}t${threadId}`;
}

/**
 * Tells this thread's sinks that worker threads of this process have exited (a thread cannot see
 * another thread's sinks, and its pid is alive), so their directories are adopted and replayed.
 */
export function markThreadsDead(ids: Iterable<number>): void {
  for (const id of ids) deadThreads.add(id);
}

function ownerAlive(dirName: string): boolean {
  const owner = dirName.split('~')[0]!;
  const m = /^(\d+)(?:t(\d+))?$/.exec(owner.split('-')[0]!);
  if (!m) return false;
  const pid = Number(m[1]);
  const thread = Number(m[2] ?? 0);
  if (pid <= 0) return false;
  if (pid !== process.pid) return isAlive(pid);
  if (thread === threadId) return liveHere.has(owner);
  return !deadThreads.has(thread);
}

export function encodeBatch(b: SpoolBatch): string {
  return `{"s":${JSON.stringify(b.sink)},"q":${b.seq},"e":[${b.events.map((e) => JSON.stringify(e)).join(',')}]}\n`;
}

export function decodeSegment(text: string, file: string): SegmentContents {
  const batches: SpoolBatch[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    try {
      const o = JSON.parse(line) as { s: unknown; q: unknown; e: unknown };
      if (typeof o.s !== 'string' || typeof o.q !== 'number' || !Array.isArray(o.e) || !o.e.every((e) => typeof e === 'string')) throw new Error('not a spool batch');
      batches.push({ sink: o.s, seq: o.q, events: o.e as string[] });
    } catch (e) {
      problems.push(`${file}:${i + 1}: ${(e as Error).message}`);
    }
  }
  return { batches, problems };
}

export class Spool {
  readonly dir: string;
  private fd: FileHandle | null = null;
  private segNo = 0;
  private segBytes = 0;
  private total = 0;
  /** some adopted directory is not replayed yet (kept as a flag: hasData is asked per batch) */
  private adopted = false;

  constructor(readonly root: string, readonly sinkId: string, readonly maxBytes: number) {
    this.dir = join(root, sinkId);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    liveHere.add(sinkId);
    this.total = this.measure();
    this.adopted = this.adoptedDirs().length > 0;
  }

  /** Bytes on disk in this sink's directories (its own and the adopted ones). */
  get bytes(): number {
    return this.total;
  }

  private dirs(): string[] {
    // adopted directories first: they hold older events of a dead sink
    const adopted = readdirSync(this.root).filter((d) => d.startsWith(`${this.sinkId}~`)).sort();
    return [...adopted.map((d) => join(this.root, d)), this.dir];
  }

  private measure(): number {
    let n = 0;
    for (const d of this.dirs()) {
      if (!existsSync(d)) continue;
      for (const f of readdirSync(d)) if (SEG_RE.test(f)) n += statSync(join(d, f)).size;
    }
    return n;
  }

  /** Takes over spool directories whose owner is gone. Returns how many were adopted. */
  adoptOrphans(): number {
    let adopted = 0;
    let entries: string[];
    try {
      entries = readdirSync(this.root);
    } catch {
      return 0;
    }
    for (const d of entries) {
      if (d === this.sinkId || d.startsWith(`${this.sinkId}~`) || ownerAlive(d)) continue;
      try {
        renameSync(join(this.root, d), join(this.root, `${this.sinkId}~${d.replaceAll('~', '_')}`));
        adopted++;
      } catch {
        /* another sink adopted it first */
      }
    }
    if (adopted) {
      this.total = this.measure();
      this.adopted = true;
    }
    return adopted;
  }

  /** Appends one batch and fsyncs it. Returns false (nothing written) when the spool is full. */
  async append(b: SpoolBatch): Promise<boolean> {
    const line = encodeBatch(b);
    const size = Buffer.byteLength(line);
    if (this.total + size > this.maxBytes) return false;
    if (!this.fd || this.segBytes + size > SEGMENT_BYTES) await this.rotate();
    try {
      // a full disk can take part of the line without an error: that is a failed write too
      const { bytesWritten } = await this.fd!.write(line);
      if (bytesWritten < size) throw new Error(`short spool write (${bytesWritten} of ${size} bytes): disk full?`);
      await this.fd!.datasync();
    } catch (e) {
      // A partial line (disk full) would swallow the next batch written behind it: cut it off.
      await this.fd!.truncate(this.segBytes).catch(() => {});
      throw e;
    }
    this.segBytes += size;
    this.total += size;
    return true;
  }

  /** Closes the segment being written so replay can take it. */
  async rotate(): Promise<void> {
    if (this.fd) {
      await this.fd.close();
      this.fd = null;
    }
    if (this.segNo === 0) {
      const existing = readdirSync(this.dir).map((f) => SEG_RE.exec(f)?.[1]).filter(Boolean).map(Number);
      this.segNo = existing.length ? Math.max(...existing) : 0;
    }
    this.segNo++;
    this.segBytes = 0;
    this.fd = await open(join(this.dir, `${String(this.segNo).padStart(12, '0')}.seg`), 'a', 0o600);
  }

  /** Directories adopted from dead sinks, oldest first. */
  adoptedDirs(): string[] {
    return this.dirs().filter((d) => d !== this.dir && existsSync(d));
  }

  /** Closed segments of `dir` (default: every directory) in replay order; the open one is closed first. */
  async segments(dir?: string): Promise<string[]> {
    if (this.fd && this.segBytes > 0) await this.rotate();
    const current = this.fd ? join(this.dir, `${String(this.segNo).padStart(12, '0')}.seg`) : '';
    const out: string[] = [];
    for (const d of dir ? [dir] : this.dirs()) {
      if (!existsSync(d)) continue;
      for (const f of readdirSync(d).filter((f) => SEG_RE.test(f)).sort()) {
        const p = join(d, f);
        if (p !== current) out.push(p);
      }
    }
    return out;
  }

  /** Journal files of an adopted directory, in order. */
  journals(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => JNL_RE.test(f)).sort().map((f) => join(dir, f));
  }

  /** Removes an adopted directory once nothing in it is left to replay. */
  async removeIfDone(dir: string): Promise<void> {
    if (dir !== this.dir && existsSync(dir) && !readdirSync(dir).some((f) => SEG_RE.test(f) || JNL_RE.test(f))) {
      await rm(dir, { recursive: true, force: true });
    }
    this.adopted = this.adoptedDirs().length > 0;
  }

  async read(path: string): Promise<SegmentContents> {
    return decodeSegment(await readFile(path, 'utf8'), path);
  }

  /** Removes a replayed segment (and an adopted directory once it is empty). */
  async remove(path: string): Promise<void> {
    let size = 0;
    try {
      size = statSync(path).size;
    } catch {
      /* already gone */
    }
    await rm(path, { force: true });
    this.total = Math.max(0, this.total - size);
  }

  /** Whether anything is waiting for replay (segments, or an adopted directory). */
  get hasData(): boolean {
    return this.total > 0 || this.adopted;
  }

  async close(): Promise<void> {
    if (this.fd) {
      await this.fd.close();
      this.fd = null;
    }
    liveHere.delete(this.sinkId);
    // An empty directory of a cleanly closed sink is removed; one with events stays for adoption.
    try {
      const left = readdirSync(this.dir).filter((f) => (SEG_RE.test(f) || JNL_RE.test(f)) && statSync(join(this.dir, f)).size > 0);
      if (left.length === 0) await rm(this.dir, { recursive: true, force: true });
    } catch {
      /* gone */
    }
  }
}

/**
 * The write-ahead journal of one sink: one line per event, appended synchronously at emit (a write
 * into the page cache, which outlives a killed process), dropped once the events are safe.
 */
export class Journal {
  private fd: number | null = null;
  private bytes = 0;
  /** open or closed files with the highest event sequence number each holds */
  private files: Array<{ path: string; maxSeq: number }> = [];

  /** encodeBatch's text up to the sequence number, the same for every line of this sink */
  private readonly linePrefix: string;

  constructor(readonly dir: string, readonly sink: string) {
    this.linePrefix = `{"s":${JSON.stringify(sink)},"q":`;
  }

  /**
   * Appends one event; false when it could not be written (disk full): the event still goes on to
   * the stream, only its protection against a killed worker is missing. A torn line is cut off.
   */
  append(seq: number, event: string): boolean {
    try {
      this.write(seq, event);
      return true;
    } catch {
      if (this.fd !== null) {
        try {
          ftruncateSync(this.fd, this.bytes);
        } catch {
          /* the line stays torn: replay skips it as unreadable */
        }
      }
      return false;
    }
  }

  private write(seq: number, event: string): void {
    if (this.fd === null || this.bytes > JOURNAL_BYTES) {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
      const path = join(this.dir, `${String(seq).padStart(15, '0')}.jnl`);
      this.fd = openSync(path, 'a', 0o600);
      this.bytes = 0;
      this.files.push({ path, maxSeq: seq });
    }
    // encodeBatch({ sink, seq, events: [event] }), written out: this runs for every event
    const line = `${this.linePrefix}${seq},"e":[${JSON.stringify(event)}]}\n`;
    const n = writeSync(this.fd, line);
    if (n < Buffer.byteLength(line)) throw new Error('short journal write');
    this.bytes += n;
    this.files[this.files.length - 1]!.maxSeq = seq;
  }

  /**
   * Every event up to `safeSeq` is in the stream or the spool: delete the closed files that hold only
   * those. The file being written stays open (reopening it for every batch cost a file open, close
   * and unlink per batch); lines in it that are already safe are recognised by sequence number at
   * replay, and it goes once it is full and everything in it is safe.
   */
  release(safeSeq: number): void {
    this.releasedSeq = Math.max(this.releasedSeq, safeSeq);
    while (this.files.length > 1 && this.files[0]!.maxSeq <= safeSeq) rmSync(this.files.shift()!.path, { force: true });
    const open = this.files[0];
    if (open && this.files.length === 1 && open.maxSeq <= safeSeq && this.bytes > JOURNAL_BYTES) this.dropOpenFile();
  }

  private releasedSeq = 0;

  private dropOpenFile(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.files.shift()!.path, { force: true });
  }

  /** Closes the journal; a file holding only released events is deleted. */
  close(): void {
    const open = this.files[this.files.length - 1];
    if (open && this.files.length === 1 && open.maxSeq <= this.releasedSeq) {
      this.dropOpenFile();
      return;
    }
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
