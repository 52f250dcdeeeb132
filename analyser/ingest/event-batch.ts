import type { BlockedAttempt } from '../../core/alerts/rules.ts';
import { W, WIRE_COLUMNS, WIRE_FIELD } from '../../core/events/wire.ts';
import { eventsTable } from '../../core/storage/tables.ts';
import { blockTypeOf, transcodeTsv, type BlockColumn, type Transcoded } from '../../core/storage/native-block.ts';

// The events of one ingest batch: the stream entries' wire lines, checked and turned into one Native
// block (and, for a server, the accepted lines as text) in a single pass. Pure.

export const EVENT_BLOCK_COLUMNS: readonly BlockColumn[] = (() => {
  const declared = new Map(eventsTable(1).columns.map(([name, type]) => [name, type]));
  return WIRE_COLUMNS.map((name) => ({ name, type: blockTypeOf(declared.get(name) ?? 'String') }));
})();

const BLOCK_FIELD = Buffer.from('\tblock\t');

export interface Rejected {
  /** stream entry id */
  id: string;
  /** position of the event in its entry (0 for one-event entries) */
  index: number;
  raw: string;
  error: string;
}

export interface EncodedBatch extends Transcoded {
  /** every invalid event of the batch, with its entry */
  invalid: Rejected[];
}

function lineCount(s: string): number {
  let n = 1;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

export class EventBatch {
  /** stream ids, in read order */
  readonly ids: string[] = [];
  /** events (valid or not) the entries held */
  events = 0;
  private readonly chunks: Buffer[] = [];
  /** which entry each chunk came from */
  private readonly chunkEntry: string[] = [];
  private readonly early: Rejected[] = [];

  /** Adds one stream entry (all its events); returns how many events it held. */
  addEntry(id: string, entry: readonly string[]): number {
    this.ids.push(id);
    let n = 0;
    let known = false;
    for (let i = 0; i + 1 < entry.length; i += 2) {
      const name = entry[i];
      const value = entry[i + 1]!;
      if (name === WIRE_FIELD) {
        known = true;
        this.push(id, value);
        n += lineCount(value);
      }
    }
    if (!known) {
      n++;
      this.early.push({ id, index: 0, raw: JSON.stringify(entry).slice(0, 10_000), error: `entry has no \`${WIRE_FIELD}\` field` });
    }
    this.events += n;
    return n;
  }

  private push(id: string, text: string): void {
    this.chunks.push(Buffer.from(text, 'utf8'));
    this.chunkEntry.push(id);
  }

  /** Event ids (lower case) and the time range of the batch's lines, for the check against stored events. */
  idsAndRange(): { ids: string[]; from: number; to: number } {
    const ids: string[] = [];
    let from = Infinity, to = -Infinity;
    // only claimed batches need this: decode the chunks again rather than keep every batch's text twice
    for (const chunk of this.chunks) {
      for (const line of chunk.toString('utf8').split('\n')) {
        const f = line.split('\t', 2);
        const ts = Date.parse(f[W.ts]!);
        if (!Number.isNaN(ts)) {
          if (ts < from) from = ts;
          if (ts > to) to = ts;
        }
        if (f[W.event_id]) ids.push(f[W.event_id]!.toLowerCase());
      }
    }
    return { ids, from, to };
  }

  /**
   * The batch's blocked requests in `categories` (for alerts). Most batches hold none: a chunk
   * without a block action is skipped without being split.
   */
  blockedAttempts(categories: ReadonlySet<string>): BlockedAttempt[] {
    const out: BlockedAttempt[] = [];
    if (categories.size === 0) return out;
    for (const chunk of this.chunks) {
      if (chunk.indexOf(BLOCK_FIELD) < 0) continue;
      // only the lines holding the marker are split
      const text = chunk.toString('latin1');
      let lastLine = -1;
      for (let at = text.indexOf('\tblock\t'); at >= 0; at = text.indexOf('\tblock\t', at + 1)) {
        const start = text.lastIndexOf('\n', at) + 1;
        if (start === lastLine) continue;
        lastLine = start;
        const end = text.indexOf('\n', at);
        const f = text.slice(start, end < 0 ? text.length : end).split('\t');
        if (f[W.action] !== 'block' || !categories.has(f[W.category]!)) continue;
        const ts = Date.parse(f[W.ts]!);
        // the fields taken here are ASCII (pseudonym hex, group and category names); latin1 keeps offsets cheap
        if (!Number.isNaN(ts)) out.push({ ts, pseudonym: f[W.user_pseudonym]!, group: f[W.user_group]!, category: f[W.category]! });
      }
    }
    return out;
  }

  /** One pass over every line: the Native block, the text for a server (`keepText`), the invalid events. */
  encode(opts: { keepText?: boolean; skipIds?: ReadonlySet<string> } = {}): EncodedBatch {
    const t = transcodeTsv(EVENT_BLOCK_COLUMNS, this.chunks, {
      keepText: opts.keepText,
      skip: opts.skipIds?.size ? { column: W.event_id, ids: opts.skipIds } : undefined,
    });
    const invalid = [...this.early, ...t.rejected.map((r) => ({ id: this.chunkEntry[r.chunk]!, index: r.line, raw: r.raw, error: r.error }))];
    return { ...t, invalid };
  }
}
