import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Config } from '../../core/config/schema.ts';
import type { AccessEvent } from '../../core/events/event.ts';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import type { Store } from '../../core/storage/clickhouse.ts';
import { parseSquidLine, type SquidRequest } from './squid-line.ts';
import { tsvInsert } from '../../core/storage/tsv.ts';
import { EVENT_COLUMNS } from '../../core/storage/tables.ts';

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

function eventId(text: string, lineNo: number): string {
  const h = createHash('sha256').update(`squid:${lineNo}:${text}`).digest('hex');
  // a version-4-shaped UUID from the hash, so the same line always gets the same id
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

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

  toEvent(req: SquidRequest, text: string, lineNo: number): AccessEvent & { ts: string } {
    const [userPseudonym, group] = this.person(req.user);
    const slash = req.path.lastIndexOf('/');
    const last = req.path.slice(slash + 1);
    const dot = last.lastIndexOf('.');
    const filename = dot > 0 ? last : '';
    const flags: string[] = [];
    if (dot > 0 && this.executables.has(last.slice(dot + 1).toLowerCase())) flags.push('executable');
    if (req.method !== 'CONNECT' && req.bytes === 0 && req.status === 0) flags.push('no-response');
    return {
      ts: chMs(req.ts),
      event_id: eventId(text, lineNo),
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
      action: req.squidCode.includes('DENIED') ? 'block' : 'allow',
      rule: 'import:squid',
      flags,
      source: 'import',
    };
  }

  async importFile(path: string, sourceLabel = path): Promise<ImportResult> {
    const { store } = this.d;
    const done = new Set((await store.rows<{ h: string }>(`SELECT batch_hash AS h FROM ${store.database}.import_ledger`)).map((r) => r.h));
    const result: ImportResult = { lines: 0, imported: 0, alreadyImported: 0, bad: 0, badLines: [], batches: 0, skippedBatches: 0 };
    let texts: string[] = [];
    let first = 1;
    const flush = async () => {
      if (texts.length === 0) return;
      result.batches++;
      // SHA-256 of the batch's lines joined by newlines, without building the joined string
      const h = createHash('sha256');
      texts.forEach((t, i) => h.update(i ? `\n${t}` : t));
      const hash = h.digest('hex');
      const lastLine = first + texts.length - 1;
      const known = done.has(hash);
      const events: Array<AccessEvent & { ts: string }> = [];
      let good = 0;
      texts.forEach((t, i) => {
        const lineNo = first + i;
        const r = parseSquidLine(t);
        if (r.ok) {
          good++;
          // a batch already imported is only parsed, to count and report its bad lines again
          if (!known) events.push(this.toEvent(r.req, t, lineNo));
        } else if (t.trim() !== '') {
          result.bad++;
          if (result.badLines.length < MAX_REPORTED_BAD) result.badLines.push({ line: lineNo, reason: r.reason });
        }
      });
      if (known) {
        result.skippedBatches++;
        result.alreadyImported += good;
      } else {
        const fresh = await this.notYetStored(events);
        result.alreadyImported += events.length - fresh.length;
        // the token makes an immediate retry of this exact batch a no-op as well
        if (fresh.length) await store.command(tsvInsert(`${store.database}.events`, EVENT_COLUMNS, fresh as unknown as Array<Record<string, unknown>>), undefined, { insert_deduplication_token: `squid-import:${hash}` });
        await store.insert('import_ledger', [{ batch_hash: hash, source: sourceLabel, first_line: first, last_line: lastLine, events: fresh.length, imported_at: chMs(Date.now()) }]);
        done.add(hash);
        result.imported += fresh.length;
      }
      first = lastLine + 1;
      texts = [];
    };
    const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of rl) {
      result.lines++;
      texts.push(line);
      if (texts.length >= BATCH_LINES) await flush();
    }
    await flush();
    return result;
  }

  /** Events of a batch whose ids are not stored yet (a re-import of a grown file's last batch). */
  private async notYetStored(events: Array<AccessEvent & { ts: string }>): Promise<Array<AccessEvent & { ts: string }>> {
    if (events.length === 0) return events;
    let min = events[0]!.ts, max = min;
    for (const e of events) {
      if (e.ts < min) min = e.ts;
      if (e.ts > max) max = e.ts;
    }
    const { store } = this.d;
    const range = { min, max };
    // cheap first: no imported events at all in the batch's time range (the usual first import)
    const any = await store.one<{ n: number }>(
      `SELECT count() AS n FROM ${store.database}.events WHERE ts >= {min:DateTime64(3)} AND ts <= {max:DateTime64(3)} AND source = 'import'`, range);
    if (Number(any?.n ?? 0) === 0) return events;
    const existing = await store.rows<{ id: string }>(
      `SELECT toString(event_id) AS id FROM ${store.database}.events
       WHERE ts >= {min:DateTime64(3)} AND ts <= {max:DateTime64(3)} AND source = 'import' AND event_id IN {ids:Array(UUID)}`,
      { min, max, ids: events.map((e) => e.event_id) });
    if (existing.length === 0) return events;
    const have = new Set(existing.map((r) => r.id));
    return events.filter((e) => !have.has(e.event_id));
  }
}
