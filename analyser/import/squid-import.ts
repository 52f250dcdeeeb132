import { hash as oneShotHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Config } from '../../core/config/schema.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { parseSquidLine, type SquidRequest } from './squid-line.ts';
import { encodeEvent, W, WIRE_COLUMNS } from '../../core/events/wire.ts';
import { NativeBlockBuilder } from '../../core/storage/native-block.ts';
import { EVENT_BLOCK_COLUMNS } from '../ingest/event-batch.ts';

// `fairwatch import squid-log FILE`: Squid history into fairwatch.events, so an organisation moving
// from Squid keeps it. User names and client addresses become pseudonyms on the way in; categories
// come from the policy engine. Idempotent: lines are imported in fixed batches of BATCH_LINES, each
// recorded in fairwatch.import_ledger under the SHA-256 of its text, and a batch already recorded
// is skipped; a batch not recorded (first import, or the tail of a log that has grown since) keeps
// only lines whose deterministic event id is not yet stored.

export const BATCH_LINES = 50_000;
const MAX_REPORTED_BAD = 50;

/** The seam to the policy engine: a category for a request (or '' when no engine is loaded). */
export interface Categoriser {
  category(req: SquidRequest, group: string): string;
}
export const noCategories: Categoriser = { category: () => '' };

export interface ImportDeps {
  store: Store;
  pseudonyms: Pseudonymiser;
  config: Config;
  categoriser: Categoriser;
  /** user name (normalised lower case) → policy group, from the user directory */
  groups: Map<string, string>;
}

export interface ImportResult {
  lines: number;
  imported: number;
  alreadyImported: number;
  bad: number;
  badLines: Array<{ line: number; reason: string }>;
  batches: number;
  skippedBatches: number;
}

/** The 16 bytes of a line's event id: a version-4-shaped UUID from a hash, so the same line always gets the same id. */
function eventIdBytes(text: string, lineNo: number): Buffer {
  // one-shot hash: several times cheaper per line than a Hash object
  const h = oneShotHash('sha256', `squid:${lineNo}:${text}`, 'buffer') as unknown as Buffer;
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  return h;
}

function uuidText(b: Buffer): string {
  const h = b.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function eventId(text: string, lineNo: number): string {
  return uuidText(eventIdBytes(text, lineNo));
}

/** A good line of a batch, with its deterministic event id. */
interface Parsed {
  req: SquidRequest;
  text: string;
  lineNo: number;
  /** event id bytes */
  id: Buffer;
}

const NO_FLAGS: readonly string[] = [];
const EXECUTABLE_FLAG: readonly string[] = ['executable'];
const NO_RESPONSE_FLAG: readonly string[] = ['no-response'];
const BOTH_FLAGS: readonly string[] = ['executable', 'no-response'];

const chMs = (t: number) => new Date(t).toISOString().slice(0, 23).replace('T', ' ');

export class SquidImporter {
  private readonly userCache = new Map<string, [string, string]>();
  private readonly clientCache = new Map<string, string>();
  private readonly executables: Set<string>;

  constructor(private readonly d: ImportDeps) {
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
  private append(b: NativeBlockBuilder, req: SquidRequest, id: Buffer): void {
    const [userPseudonym, group] = this.person(req.user);
    const { filename, flags, action } = this.derived(req);
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
    b.string(W.category, this.d.categoriser.category(req, group));
    b.string(W.action, action);
    b.string(W.rule, 'import:squid');
    b.strings(W.flags, flags);
    b.string(W.source, 'import');
  }

  async importFile(path: string, sourceLabel = path): Promise<ImportResult> {
    const { store } = this.d;
    const done = new Set((await store.rows<{ h: string }>(`SELECT batch_hash AS h FROM ${store.database}.import_ledger`)).map((r) => r.h));
    const result: ImportResult = { lines: 0, imported: 0, alreadyImported: 0, bad: 0, badLines: [], batches: 0, skippedBatches: 0 };
    let texts: string[] = [];
    let first = 1;
    // the previous batch's insert, running on the engine's threads while this batch is parsed
    let inflight: Promise<void> | null = null;
    const settle = async () => {
      const p = inflight;
      inflight = null;
      if (p) await p;
    };
    const flush = async () => {
      if (texts.length === 0) return;
      result.batches++;
      // SHA-256 of the batch's lines joined by newlines, without building the joined string
      const hash = oneShotHash('sha256', texts.join('\n'), 'hex');
      const batchFirst = first;
      const lastLine = first + texts.length - 1;
      const known = done.has(hash);
      const lines: Parsed[] = [];
      let good = 0;
      texts.forEach((t, i) => {
        const lineNo = batchFirst + i;
        const r = parseSquidLine(t);
        if (r.ok) {
          good++;
          // a batch already imported is only parsed, to count and report its bad lines again
          if (!known) lines.push({ req: r.req, text: t, lineNo, id: eventIdBytes(t, lineNo) });
        } else if (t.trim() !== '') {
          result.bad++;
          if (result.badLines.length < MAX_REPORTED_BAD) result.badLines.push({ line: lineNo, reason: r.reason });
        }
      });
      first = lastLine + 1;
      texts = [];
      if (known) {
        result.skippedBatches++;
        result.alreadyImported += good;
        return;
      }
      const fresh = await this.notYetStored(lines);
      result.alreadyImported += lines.length - fresh.length;
      // encoded here (a Native block for the embedded engine, text for a server); inserted while the next batch is parsed
      let block: { block: Buffer; text: Buffer | null; rows: number };
      if (store.embedded) {
        const b = new NativeBlockBuilder(EVENT_BLOCK_COLUMNS, fresh.length);
        for (const l of fresh) this.append(b, l.req, l.id);
        block = { ...b.build(), text: null };
      } else {
        const text = Buffer.from(fresh.map((l) => `${encodeEvent(this.toEvent(l.req, l.text, l.lineNo, uuidText(l.id)))}\n`).join(''));
        block = { block: Buffer.alloc(0), text, rows: fresh.length };
      }
      await settle();
      inflight = (async () => {
        // the token makes an immediate retry of this exact batch a no-op as well
        await store.insertTranscoded('events', WIRE_COLUMNS, block, `squid-import:${hash}`);
        await store.insert('import_ledger', [{ batch_hash: hash, source: sourceLabel, first_line: batchFirst, last_line: lastLine, events: fresh.length, imported_at: chMs(Date.now()) }]);
        done.add(hash);
        result.imported += fresh.length;
      })();
      inflight.catch(() => {}); // awaited (and thrown) by settle()
    };
    const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of rl) {
      result.lines++;
      texts.push(line);
      if (texts.length >= BATCH_LINES) await flush();
    }
    await flush();
    await settle();
    return result;
  }

  /** Lines of a batch whose events are not stored yet (a re-import of a grown file's last batch). */
  private async notYetStored(lines: Parsed[]): Promise<Parsed[]> {
    if (lines.length === 0) return lines;
    let minT = lines[0]!.req.ts, maxT = minT;
    for (const l of lines) {
      if (l.req.ts < minT) minT = l.req.ts;
      if (l.req.ts > maxT) maxT = l.req.ts;
    }
    const { store } = this.d;
    const range = { min: chMs(minT), max: chMs(maxT) };
    // cheap first: no imported events at all in the batch's time range (the usual first import)
    const any = await store.one<{ n: number }>(
      `SELECT count() AS n FROM ${store.database}.events WHERE ts >= {min:DateTime64(3)} AND ts <= {max:DateTime64(3)} AND source = 'import'`, range);
    if (Number(any?.n ?? 0) === 0) return lines;
    const existing = await store.rows<{ id: string }>(
      `SELECT toString(event_id) AS id FROM ${store.database}.events
       WHERE ts >= {min:DateTime64(3)} AND ts <= {max:DateTime64(3)} AND source = 'import' AND event_id IN {ids:Array(UUID)}`,
      { ...range, ids: lines.map((l) => uuidText(l.id)) });
    if (existing.length === 0) return lines;
    const have = new Set(existing.map((r) => r.id));
    return lines.filter((l) => !have.has(uuidText(l.id)));
  }
}
