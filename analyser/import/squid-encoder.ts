import { hash as oneShotHash } from 'node:crypto';
import type { Config } from '../../core/config/schema.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import { encodeEvent, type WireColumn } from '../../core/events/wire.ts';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { appendStringColumn, NativeBlockBuilder } from '../../core/storage/native-block.ts';
import { EVENT_BLOCK_COLUMNS } from '../ingest/event-batch.ts';
import { parseSquidLine, type SquidRequest } from './squid-line.ts';

// One batch of Squid log lines → what `events` stores: parsed, pseudonymised, categorised and
// encoded (a Native block for the embedded engine, wire lines for a server). No I/O, so it runs the
// same in the importing process and in its worker threads (squid-workers.ts).

export const MAX_REPORTED_BAD = 50;

/** The seam to the policy engine: a category for a request (or '' when no engine is loaded). */
export interface Categoriser {
  category(req: SquidRequest, group: string): string;
}
export const noCategories: Categoriser = { category: () => '' };

export interface EncoderDeps {
  pseudonyms: Pseudonymiser;
  config: Config;
  categoriser: Categoriser;
  /** user name (normalised lower case) → policy group, from the user directory */
  groups: Map<string, string>;
}

export interface BatchJob {
  /** the batch's lines joined by newlines */
  text: string;
  /** line number of its first line */
  first: number;
  /** already imported (by the ledger): only count good and bad lines */
  known: boolean;
  /** Native block (embedded engine) or wire lines as text (server) */
  form: 'native' | 'text';
  /** event ids (canonical text) to leave out: already stored */
  skip?: string[];
  /**
   * Leave the category column out of the Native block and return what it depends on instead
   * (`categoryKeys`, `categoryOfRow`): a worker thread has no block lists, the importing thread
   * decides each distinct request once and adds the column (withCategories).
   */
  deferCategories?: boolean;
}

/** What a category is decided from: host, path, method, scheme, port, group. */
export type CategoryKey = [host: string, path: string, method: string, scheme: 'http' | 'https', port: number, group: string];

export interface BatchOut {
  good: number;
  bad: number;
  /** the first MAX_REPORTED_BAD bad lines */
  badLines: Array<{ line: number; reason: string }>;
  rows: number;
  skipped: number;
  /** Native block, or newline-terminated wire lines (per `form`) */
  body: Uint8Array;
  /** 16 bytes per row: the event ids, in row order */
  ids: Uint8Array;
  minTs: number;
  maxTs: number;
  /** with deferCategories: the distinct requests, and for each row the index of its own */
  categoryKeys?: CategoryKey[];
  categoryOfRow?: Uint32Array;
}

/** The block's columns when categories are deferred: category comes last, added by withCategories. */
export const DEFERRED_COLUMNS = [...EVENT_BLOCK_COLUMNS.filter((c) => c.name !== 'category'), EVENT_BLOCK_COLUMNS.find((c) => c.name === 'category')!];
const DEFERRED_INDEX = new Map(DEFERRED_COLUMNS.map((c, i) => [c.name, i]));
const DI = (name: string) => DEFERRED_INDEX.get(name)!;
const COLS_INLINE = Object.fromEntries(EVENT_BLOCK_COLUMNS.map((c, i) => [c.name, i])) as Record<WireColumn, number>;
const COLS_DEFERRED = Object.fromEntries(DEFERRED_COLUMNS.map((c) => [c.name, DI(c.name)])) as Record<WireColumn, number>;

/** Adds the deferred category column to a block encoded with deferCategories. */
export function withCategories(out: BatchOut, categoriser: Categoriser): Buffer {
  const keys = out.categoryKeys ?? [];
  const decided = keys.map(([host, path, method, scheme, port, group]) =>
    categoriser.category({ host, path, method, scheme, port } as SquidRequest, group));
  const rows = out.categoryOfRow!;
  const values = Array.from(rows, (k) => decided[k]!);
  return appendStringColumn(Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength), 'category', values);
}

/** The 16 bytes of a line's event id: a version-4-shaped UUID from a hash, so the same line always gets the same id. */
export function eventIdBytes(text: string, lineNo: number): Buffer {
  // one-shot hash: several times cheaper per line than a Hash object
  const h = oneShotHash('sha256', `squid:${lineNo}:${text}`, 'buffer') as unknown as Buffer;
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return h;
}

export function uuidText(b: Buffer): string {
  const h = b.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function eventId(text: string, lineNo: number): string {
  return uuidText(eventIdBytes(text, lineNo));
}

const NO_FLAGS: readonly string[] = [];
const EXECUTABLE_FLAG: readonly string[] = ['executable'];
const NO_RESPONSE_FLAG: readonly string[] = ['no-response'];
const BOTH_FLAGS: readonly string[] = ['executable', 'no-response'];

export class SquidEncoder {
  private readonly userCache = new Map<string, [string, string]>();
  private readonly clientCache = new Map<string, string>();
  private readonly executables: Set<string>;

  constructor(private readonly d: EncoderDeps) {
    this.executables = new Set(d.config.policy.softwareDownloads.extensions.map((e) => e.toLowerCase().replace(/^\./, '')));
  }

  private person(name: string): [pseudonym: string, group: string] {
    let v = this.userCache.get(name);
    if (!v) {
      if (name === '') v = ['', 'guests'];
      else v = [this.d.pseudonyms.user(name), this.d.groups.get(name.normalize('NFKC').trim().toLowerCase()) ?? this.d.config.policy.defaultGroup];
      this.userCache.set(name, v);
    }
    return v;
  }

  private client(addr: string): string {
    let v = this.clientCache.get(addr);
    if (v === undefined) {
      v = this.d.pseudonyms.client(addr);
      this.clientCache.set(addr, v);
    }
    return v;
  }

  /** What a line adds to the request: its file name, flags and action. */
  private derived(req: SquidRequest): { filename: string; flags: readonly string[]; action: string } {
    const slash = req.path.lastIndexOf('/');
    const last = req.path.slice(slash + 1);
    const dot = last.lastIndexOf('.');
    const filename = dot > 0 ? last : '';
    const executable = dot > 0 && this.executables.has(last.slice(dot + 1).toLowerCase());
    const noResponse = req.method !== 'CONNECT' && req.bytes === 0 && req.status === 0;
    const flags = executable ? (noResponse ? BOTH_FLAGS : EXECUTABLE_FLAG) : noResponse ? NO_RESPONSE_FLAG : NO_FLAGS;
    return { filename, flags, action: req.squidCode.includes('DENIED') ? 'block' : 'allow' };
  }

  toEvent(req: SquidRequest, text: string, lineNo: number, id = eventId(text, lineNo)): AccessEvent & { ts: string } {
    const [userPseudonym, group] = this.person(req.user);
    const { filename, flags, action } = this.derived(req);
    return {
      ts: new Date(req.ts).toISOString(),
      event_id: id,
      user_pseudonym: userPseudonym,
      user_group: group,
      client_pseudonym: this.client(req.client),
      method: req.method,
      scheme: req.scheme,
      host: req.host,
      port: req.port,
      path: req.path,
      query: this.d.config.retention.storeQueryStrings ? req.query : '',
      status: req.status,
      // Squid's native log records only the bytes sent to the client: uploads cannot be sized
      bytes_up: 0,
      bytes_down: req.bytes,
      duration_ms: Math.min(req.elapsedMs, 4_294_967_295),
      content_type: req.contentType,
      filename,
      category: this.d.categoriser.category(req, group),
      action,
      rule: 'import:squid',
      flags: [...flags],
      source: 'import',
    };
  }

  /** The same event as toEvent, appended straight to a Native block's columns (no object, no text). */
  append(b: NativeBlockBuilder, req: SquidRequest, id: Buffer, deferred = false): void {
    const [userPseudonym, group] = this.person(req.user);
    const { filename, flags, action } = this.derived(req);
    const W = deferred ? COLS_DEFERRED : COLS_INLINE;
    b.time(W.ts, req.ts);
    b.uuidBytes(W.event_id, id);
    b.string(W.user_pseudonym, userPseudonym);
    b.string(W.user_group, group);
    b.string(W.client_pseudonym, this.client(req.client));
    b.string(W.method, req.method);
    b.string(W.scheme, req.scheme);
    b.string(W.host, req.host);
    b.uint(W.port, req.port);
    b.string(W.path, req.path);
    b.string(W.query, this.d.config.retention.storeQueryStrings ? req.query : '');
    b.uint(W.status, req.status);
    b.uint(W.bytes_up, 0);
    b.uint(W.bytes_down, req.bytes);
    b.uint(W.duration_ms, Math.min(req.elapsedMs, 4_294_967_295));
    b.string(W.content_type, req.contentType);
    b.string(W.filename, filename);
    if (!deferred) b.string(W.category, this.d.categoriser.category(req, group));
    b.string(W.action, action);
    b.string(W.rule, 'import:squid');
    b.strings(W.flags, flags);
    b.string(W.source, 'import');
  }

  /** Parses and encodes one batch. */
  encode(job: BatchJob): BatchOut {
    const texts = job.text.split('\n');
    const skip = job.skip?.length ? new Set(job.skip) : null;
    const out: BatchOut = { good: 0, bad: 0, badLines: [], rows: 0, skipped: 0, body: new Uint8Array(0), ids: new Uint8Array(0), minTs: Infinity, maxTs: -Infinity };
    const defer = job.deferCategories === true && job.form === 'native';
    const native = job.known ? null : job.form === 'native' ? new NativeBlockBuilder(defer ? DEFERRED_COLUMNS.slice(0, -1) : EVENT_BLOCK_COLUMNS, texts.length) : null;
    const keyIndex = new Map<string, number>();
    const keys: CategoryKey[] = [];
    const ofRow = defer ? new Uint32Array(texts.length) : null;
    const lines: string[] = [];
    const ids = job.known ? null : Buffer.allocUnsafe(texts.length * 16);
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i]!;
      const lineNo = job.first + i;
      const r = parseSquidLine(t);
      if (!r.ok) {
        if (t.trim() !== '') {
          out.bad++;
          if (out.badLines.length < MAX_REPORTED_BAD) out.badLines.push({ line: lineNo, reason: r.reason });
        }
        continue;
      }
      out.good++;
      // a batch already imported is only parsed, to count and report its bad lines again
      if (job.known) continue;
      const id = eventIdBytes(t, lineNo);
      if (skip && skip.has(uuidText(id))) {
        out.skipped++;
        continue;
      }
      id.copy(ids!, out.rows * 16, 0, 16);
      out.rows++;
      if (r.req.ts < out.minTs) out.minTs = r.req.ts;
      if (r.req.ts > out.maxTs) out.maxTs = r.req.ts;
      if (ofRow) {
        const q = r.req;
        const group = this.person(q.user)[1];
        const k = `${q.host}\0${q.path}\0${q.method}\0${q.scheme}\0${q.port}\0${group}`;
        let n = keyIndex.get(k);
        if (n === undefined) {
          n = keys.length;
          keyIndex.set(k, n);
          keys.push([q.host, q.path, q.method, q.scheme, q.port, group]);
        }
        ofRow[out.rows - 1] = n;
      }
      if (native) this.append(native, r.req, id, defer);
      else lines.push(`${encodeEvent(this.toEvent(r.req, t, lineNo, uuidText(id)))}\n`);
    }
    if (native) out.body = native.build().block;
    else if (!job.known) out.body = Buffer.from(lines.join(''));
    if (ids) out.ids = ids.subarray(0, out.rows * 16);
    if (ofRow) {
      out.categoryKeys = keys;
      out.categoryOfRow = ofRow.subarray(0, out.rows);
    }
    return out;
  }
}
