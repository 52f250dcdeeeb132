import { hash as oneShotHash } from 'node:crypto';
import type { Config } from '../../core/config/schema.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import { encodeEvent, type WireColumn } from '../../core/events/wire.ts';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { appendStringColumn, NativeBlockBuilder, type BlockColumn } from '../../core/storage/native-block.ts';
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
   * Lines before this time (ms since the epoch) are counted in `expired` and not encoded: the
   * events table's TTL (retention.eventsDays) would delete them as soon as they were inserted.
   */
  notBefore?: number;
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
  /** good lines older than the job's notBefore (also counted in good), not encoded */
  expired: number;
  /** IMPORT_BLOCK (insert it with IMPORT_INSERT), or newline-terminated wire lines (per `form`) */
  body: Uint8Array;
  minTs: number;
  maxTs: number;
  /** with deferCategories: the distinct requests, and for each row the index of its own */
  categoryKeys?: CategoryKey[];
  categoryOfRow?: Uint32Array;
}

/**
 * What every imported event has. Squid's native log records only the bytes sent to the client:
 * uploads cannot be sized. In a Native block these are set by the insert's SELECT, not sent per row.
 */
const IMPORTED = { rule: 'import:squid', source: 'import', bytes_up: 0 } as const;
type Constant = keyof typeof IMPORTED;

/**
 * The Native block of an import batch: the event columns but event_id and the constants, then the
 * line and its number (the engine derives event_id from them, EVENT_ID_SQL: one SHA-256 per row in
 * C++ rather than one native call per line from JavaScript), and category last, so a worker's block
 * can have it added by withCategories.
 */
export const IMPORT_BLOCK: readonly BlockColumn[] = [
  ...EVENT_BLOCK_COLUMNS.filter((c) => c.name !== 'event_id' && c.name !== 'category' && !(c.name in IMPORTED)),
  { name: 'line', type: 'String' }, { name: 'line_no', type: 'UInt32' },
  EVENT_BLOCK_COLUMNS.find((c) => c.name === 'category')!,
];
const C = Object.fromEntries(IMPORT_BLOCK.map((c, i) => [c.name, i])) as Record<Exclude<WireColumn, 'event_id' | Constant> | 'line' | 'line_no', number>;

/** eventId() in SQL, over the block's `line` and `line_no`: the same version-4-shaped UUID from the same SHA-256. */
export const EVENT_ID_SQL = `toUUID(UUIDNumToString(toFixedString(concat(substring(h, 1, 6),
  char(bitOr(bitAnd(reinterpretAsUInt8(substring(h, 7, 1)), 15), 64)), substring(h, 8, 1),
  char(bitOr(bitAnd(reinterpretAsUInt8(substring(h, 9, 1)), 63), 128)), substring(h, 10, 7)), 16)))`;

/** The insert of an import block: its columns, and the SELECT that turns a block file into events rows. */
export const IMPORT_INSERT = (() => {
  const kept = IMPORT_BLOCK.map((c) => c.name).filter((n) => n !== 'line' && n !== 'line_no');
  // fixed literals (no quotes inside): spliced as they are
  const constants = Object.entries(IMPORTED).map(([name, v]): [string, string] => [name, typeof v === 'number' ? String(v) : `'${v}'`]);
  return {
    columns: [...kept, ...constants.map(([name]) => name), 'event_id'],
    select: (file: string) => `SELECT ${kept.join(', ')}, ${constants.map(([name, value]) => `${value} AS ${name}`).join(', ')}, ${EVENT_ID_SQL} AS event_id
      FROM (SELECT *, SHA256(concat('squid:', toString(line_no), ':', line)) AS h FROM ${file})`,
  };
})();

/** The event ids of a batch's good lines (for the check against stored events: the block has none). */
export function batchEventIds(text: string, first: number): string[] {
  const out: string[] = [];
  text.split('\n').forEach((t, i) => {
    if (parseSquidLine(t).ok) out.push(eventId(t, first + i));
  });
  return out;
}

/** A batch's encoded body as a Buffer over the same memory (a worker's arrives as a plain Uint8Array). */
export function bodyBytes(out: BatchOut): Buffer {
  return Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength);
}

/** Adds the deferred category column to a block encoded with deferCategories. */
export function withCategories(out: BatchOut, categoriser: Categoriser): Buffer {
  const keys = out.categoryKeys ?? [];
  const decided = keys.map(([host, path, method, scheme, port, group]) =>
    categoriser.category({ host, path, method, scheme, port } as SquidRequest, group));
  const rows = out.categoryOfRow!;
  const values = Array.from(rows, (k) => decided[k]!);
  // the block was built without its last column, category
  return appendStringColumn(bodyBytes(out), 'category', values);
}

/** A line's event id: a version-4-shaped UUID from a hash, so the same line always gets the same id (EVENT_ID_SQL in SQL). */
export function eventId(text: string, lineNo: number): string {
  // one-shot hash: several times cheaper per line than a Hash object
  const h = oneShotHash('sha256', `squid:${lineNo}:${text}`, 'buffer') as unknown as Buffer;
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
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

  // What a line adds to the request: its file name, flags and action. Three small functions rather
  // than one returning an object: append() runs once per imported line.

  /** the last path segment when it has an extension, else '' */
  private fileName(path: string): string {
    const last = path.slice(path.lastIndexOf('/') + 1);
    return last.lastIndexOf('.') > 0 ? last : '';
  }

  private flags(req: SquidRequest, fileName: string): readonly string[] {
    const executable = fileName !== '' && this.executables.has(fileName.slice(fileName.lastIndexOf('.') + 1).toLowerCase());
    const noResponse = req.method !== 'CONNECT' && req.bytes === 0 && req.status === 0;
    return executable ? (noResponse ? BOTH_FLAGS : EXECUTABLE_FLAG) : noResponse ? NO_RESPONSE_FLAG : NO_FLAGS;
  }

  private action(req: SquidRequest): string {
    return req.squidCode.includes('DENIED') ? 'block' : 'allow';
  }

  toEvent(req: SquidRequest, text: string, lineNo: number, id = eventId(text, lineNo)): AccessEvent & { ts: string } {
    const [userPseudonym, group] = this.person(req.user);
    const filename = this.fileName(req.path);
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
      bytes_up: IMPORTED.bytes_up,
      bytes_down: req.bytes,
      duration_ms: Math.min(req.elapsedMs, 4_294_967_295),
      content_type: req.contentType,
      filename,
      category: this.d.categoriser.category(req, group),
      action: this.action(req),
      rule: IMPORTED.rule,
      flags: [...this.flags(req, filename)],
      source: IMPORTED.source,
    };
  }

  /** The same event as toEvent, appended straight to an IMPORT_BLOCK's columns (no object, no text). */
  append(b: NativeBlockBuilder, req: SquidRequest, text: string, lineNo: number, deferred = false): void {
    const [userPseudonym, group] = this.person(req.user);
    const filename = this.fileName(req.path);
    b.time(C.ts, req.ts);
    b.string(C.user_pseudonym, userPseudonym);
    b.string(C.user_group, group);
    b.string(C.client_pseudonym, this.client(req.client));
    b.string(C.method, req.method);
    b.string(C.scheme, req.scheme);
    b.string(C.host, req.host);
    b.uint(C.port, req.port);
    b.string(C.path, req.path);
    b.string(C.query, this.d.config.retention.storeQueryStrings ? req.query : '');
    b.uint(C.status, req.status);
    b.uint(C.bytes_down, req.bytes);
    b.uint(C.duration_ms, Math.min(req.elapsedMs, 4_294_967_295));
    b.string(C.content_type, req.contentType);
    b.string(C.filename, filename);
    b.string(C.action, this.action(req));
    b.strings(C.flags, this.flags(req, filename));
    b.string(C.line, text);
    b.uint(C.line_no, lineNo);
    if (!deferred) b.string(C.category, this.d.categoriser.category(req, group));
  }

  /** Parses and encodes one batch. */
  encode(job: BatchJob): BatchOut {
    const texts = job.text.split('\n');
    const skip = job.skip?.length ? new Set(job.skip) : null;
    const out: BatchOut = { good: 0, bad: 0, badLines: [], rows: 0, skipped: 0, expired: 0, body: new Uint8Array(0), minTs: Infinity, maxTs: -Infinity };
    const defer = job.deferCategories === true && job.form === 'native';
    const native = job.known ? null : job.form === 'native' ? new NativeBlockBuilder(defer ? IMPORT_BLOCK.slice(0, -1) : IMPORT_BLOCK, texts.length) : null;
    // host → path → key number: the categoriser decides (and caches) by host and path
    const keyIndex = new Map<string, Map<string, number>>();
    const keys: CategoryKey[] = [];
    const ofRow = defer ? new Uint32Array(texts.length) : null;
    const lines: string[] = [];
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
      if (job.notBefore !== undefined && r.req.ts < job.notBefore) {
        out.expired++;
        continue;
      }
      // a batch already imported is only parsed, to count and report its bad lines again
      if (job.known) continue;
      if (skip && skip.has(eventId(t, lineNo))) {
        out.skipped++;
        continue;
      }
      out.rows++;
      if (r.req.ts < out.minTs) out.minTs = r.req.ts;
      if (r.req.ts > out.maxTs) out.maxTs = r.req.ts;
      if (ofRow) {
        const q = r.req;
        let paths = keyIndex.get(q.host);
        if (!paths) keyIndex.set(q.host, (paths = new Map()));
        let n = paths.get(q.path);
        if (n === undefined) {
          n = keys.length;
          paths.set(q.path, n);
          keys.push([q.host, q.path, q.method, q.scheme, q.port, this.person(q.user)[1]]);
        }
        ofRow[out.rows - 1] = n;
      }
      if (native) this.append(native, r.req, t, lineNo, defer);
      else lines.push(`${encodeEvent(this.toEvent(r.req, t, lineNo))}\n`);
    }
    if (native) out.body = native.build().block;
    else if (!job.known) out.body = Buffer.from(lines.join(''));
    if (ofRow) {
      out.categoryKeys = keys;
      out.categoryOfRow = ofRow.subarray(0, out.rows);
    }
    return out;
  }
}
