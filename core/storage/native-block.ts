// ClickHouse Native blocks built in JavaScript. Pure.
//
// - transcodeTsv: TabSeparated lines → one block, checking every field on the way (the ingester).
// - NativeBlockBuilder: values appended column by column, for callers that already hold them (the
//   Squid importer), so nothing is formatted as text only to be parsed again.
//
// Why: the embedded engine inserts a Native block several times faster than it parses the same
// rows as TabSeparated (bench/ingest.ts: 405k against 138k rows/s into `events` with its rollup
// views), and turning text into objects in JavaScript first would cost more than it saves. So this
// works on the bytes: one pass over each line, each field parsed straight into its column's buffer.
// A line with a bad field is left out whole (its columns are rolled back) and reported with the
// column and the reason, which is also how the ingester validates events without a second pass.
//
// Only the column types fairwatch inserts in bulk are supported. LowCardinality columns are declared
// as plain String in the block; `INSERT … SELECT FROM file(…, 'Native')` converts them.

export type BlockType = 'String' | 'UInt16' | 'UInt32' | 'UInt64' | "DateTime64(3, 'UTC')" | 'UUID' | 'Array(String)';

export interface BlockColumn {
  name: string;
  type: BlockType;
}

/** The block type to send for a column declared in a table spec (defaults and LowCardinality dropped). */
export function blockTypeOf(declared: string): BlockType {
  const t = declared.replace(/\s+DEFAULT\s.*$/i, '').trim();
  if (t === 'String' || t === 'LowCardinality(String)') return 'String';
  if (t === 'Array(String)' || t === 'Array(LowCardinality(String))') return 'Array(String)';
  if (t === 'UInt16' || t === 'UInt32' || t === 'UInt64' || t === 'UUID' || t === "DateTime64(3, 'UTC')") return t;
  throw new Error(`column type ${declared} has no Native encoding here`);
}

export interface RejectedLine {
  /** which input chunk, and which line in it (both from 0) */
  chunk: number;
  line: number;
  error: string;
  raw: string;
}

export interface Transcoded {
  /** the Native block (empty when no line was accepted) */
  block: Buffer;
  rows: number;
  rejected: RejectedLine[];
  /** accepted lines, newline-terminated (only with `keepText`): what a server is sent instead */
  text: Buffer | null;
  /** lines left out because `skip` said so */
  skipped: number;
}

export interface TranscodeOptions {
  /** also return the accepted lines as TabSeparated text */
  keepText?: boolean;
  /** leave out lines whose value in column `skip.column` (a UUID column) is in `skip.ids` (lower case) */
  skip?: { column: number; ids: ReadonlySet<string> };
}

const TAB = 9, NL = 10, BACKSLASH = 92, QUOTE = 39;

class Out {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, size));
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  varUInt(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  uint32(n: number): void {
    this.ensure(4);
    const b = this.buf;
    let p = this.pos;
    b[p++] = n & 0xff;
    b[p++] = (n >>> 8) & 0xff;
    b[p++] = (n >>> 16) & 0xff;
    b[p++] = (n >>> 24) & 0xff;
    this.pos = p;
  }
  uint64(n: number): void {
    this.uint32(n % 0x100000000);
    this.uint32(Math.floor(n / 0x100000000));
  }
  text(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.varUInt(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = HEX[65 + i] = 10 + i;
const UNESCAPE = new Int16Array(256).fill(-1);
for (const [c, v] of [['t', 9], ['n', 10], ['r', 13], ['0', 0], ['b', 8], ['f', 12], ['a', 7], ['v', 11], ['\\', 92], ["'", 39], ['"', 34], ['N', -2]] as const) UNESCAPE[c.charCodeAt(0)] = v;

/** Thrown inside a line; carries the reason. Caught per line, so the cost is paid only by bad lines. */
class FieldError {
  constructor(readonly message: string) {}
}

/** days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil) */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * A string field's bytes from `p` to the next tab/newline, unescaped, written as varint length +
 * bytes; returns the position of the delimiter. `quoted` parses a '…' element of an array instead
 * (ends at the closing quote, which is consumed).
 */
function readString(src: Buffer, p: number, end: number, out: Out, quoted: boolean): number {
  let q = p;
  let escaped = false;
  if (quoted) {
    while (q < end && src[q] !== QUOTE) {
      if (src[q] === BACKSLASH) { escaped = true; q++; }
      q++;
    }
    if (q >= end) throw new FieldError('unterminated quoted string');
  } else {
    // most fields are short and plain: copy while scanning, behind a one-byte length
    out.ensure(130);
    const b = out.buf;
    let w = out.pos + 1;
    const stop = Math.min(end, p + 127);
    while (q < stop) {
      const c = src[q]!;
      if (c === TAB || c === BACKSLASH) break;
      b[w++] = c;
      q++;
    }
    if (q === end || src[q] === TAB) {
      b[out.pos] = q - p;
      out.pos = w;
      return q;
    }
    while (q < end) {
      const c = src[q]!;
      if (c === TAB) break;
      if (c === BACKSLASH) { escaped = true; q++; }
      q++;
    }
    if (q > end) throw new FieldError('ends in a lone backslash');
  }
  if (!escaped) {
    const n = q - p;
    out.varUInt(n);
    out.ensure(n);
    if (n < 24) for (let i = p; i < q; i++) out.buf[out.pos++] = src[i]!;
    else {
      src.copy(out.buf, out.pos, p, q);
      out.pos += n;
    }
  } else {
    // unescaped is never longer: decode after a 5-byte gap, then move it behind the real length
    const n0 = q - p;
    out.ensure(n0 + 10);
    const start = out.pos + 5;
    let w = start;
    for (let i = p; i < q; i++) {
      let c = src[i]!;
      if (c === BACKSLASH) {
        const e = UNESCAPE[src[++i]!]!;
        if (e === -2) throw new FieldError('\\N (NULL) in a column that cannot be NULL');
        c = e >= 0 ? e : src[i]!;
      }
      out.buf[w++] = c;
    }
    const n = w - start;
    out.varUInt(n);
    out.buf.copy(out.buf, out.pos, start, w);
    out.pos += n;
  }
  return quoted ? q + 1 : q;
}

/** the value parsed by the last readUInt / readTime (they return the position: no tuple to allocate per field) */
let value = 0;

function readUInt(src: Buffer, p: number, end: number, max: number): number {
  let v = 0;
  let q = p;
  while (q < end) {
    const c = src[q]!;
    if (c === TAB) break;
    if (c < 48 || c > 57 || q - p >= 16) throw new FieldError(`expected a whole number from 0 to ${max}`);
    v = v * 10 + (c - 48);
    q++;
  }
  if (q === p || v > max) throw new FieldError(`expected a whole number from 0 to ${max}`);
  value = v;
  return q;
}

function digits(src: Buffer, p: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = src[p + i]! - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** `YYYY-MM-DD hh:mm:ss[.fff]` (or with `T` and a trailing `Z`), UTC, to epoch milliseconds. */
const BAD_TIME = 'expected a UTC time like 2026-11-23 14:05:09.123';
function readTime(src: Buffer, p: number, end: number): number {
  if (end - p < 19) throw new FieldError(BAD_TIME);
  const y = digits(src, p, 4), mo = digits(src, p + 5, 2), d = digits(src, p + 8, 2);
  const h = digits(src, p + 11, 2), mi = digits(src, p + 14, 2), s = digits(src, p + 17, 2);
  const sep = src[p + 10];
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > DAYS_IN_MONTH[mo - 1]! || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59
    || src[p + 4] !== 45 || src[p + 7] !== 45 || (sep !== 32 && sep !== 84) || src[p + 13] !== 58 || src[p + 16] !== 58) throw new FieldError(BAD_TIME);
  if (mo === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) throw new FieldError(BAD_TIME);
  let q = p + 19;
  let ms = 0;
  if (q < end && src[q] === 46) {
    q++;
    let n = 0;
    while (q < end && src[q]! >= 48 && src[q]! <= 57) {
      if (n < 3) ms = ms * 10 + (src[q]! - 48);
      n++;
      q++;
    }
    if (n === 0 || n > 9) throw new FieldError(BAD_TIME);
    for (let i = Math.min(n, 3); i < 3; i++) ms *= 10;
  }
  if (q < end && src[q] === 90 && sep === 84) q++; // the Z of ISO 8601
  if (q < end && src[q] !== TAB) throw new FieldError(BAD_TIME);
  value = ((daysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms;
  if (value < 0) throw new FieldError('times before 1970 are not stored');
  return q;
}

// UUID text offsets of the 16 bytes in Native order: two little-endian UInt64 halves
const UUID_POS: number[] = (() => {
  const hexAt: number[] = [];
  for (let i = 0; i < 36; i++) if (i !== 8 && i !== 13 && i !== 18 && i !== 23) hexAt.push(i);
  const out: number[] = [];
  for (let half = 0; half < 2; half++) for (let b = 7; b >= 0; b--) out.push(hexAt[(half * 8 + b) * 2]!);
  return out;
})();

function readUuid(src: Buffer, p: number, end: number, out: Out): number {
  if (end - p < 36 || (p + 36 < end && src[p + 36] !== TAB) || src[p + 8] !== 45 || src[p + 13] !== 45 || src[p + 18] !== 45 || src[p + 23] !== 45) {
    throw new FieldError('expected a UUID');
  }
  out.ensure(16);
  for (let i = 0; i < 16; i++) {
    const at = p + UUID_POS[i]!;
    const hi = HEX[src[at]!]!, lo = HEX[src[at + 1]!]!;
    if (hi < 0 || lo < 0) throw new FieldError('expected a UUID');
    out.buf[out.pos++] = (hi << 4) | lo;
  }
  return p + 36;
}

const T_STRING = 0, T_U16 = 1, T_U32 = 2, T_U64 = 3, T_TIME = 4, T_UUID = 5, T_ARRAY = 6;
const TYPE_CODE: Record<BlockType, number> = { String: T_STRING, UInt16: T_U16, UInt32: T_U32, UInt64: T_U64, "DateTime64(3, 'UTC')": T_TIME, UUID: T_UUID, 'Array(String)': T_ARRAY };

interface ColState {
  type: number;
  data: Out;
  /** Array(String): element count so far, and the offsets column */
  total: number;
  offsets: Out | null;
  savedData: number;
  savedOffsets: number;
  savedTotal: number;
}

function fieldEnd(src: Buffer, p: number, end: number): number {
  const t = src.indexOf(TAB, p);
  return t < 0 || t > end ? end : t;
}

/** Transcodes newline-separated TabSeparated lines (each chunk without a final newline needed). */
export function transcodeTsv(columns: readonly BlockColumn[], chunks: readonly Buffer[], opts: TranscodeOptions = {}): Transcoded {
  let bytes = 0;
  for (const c of chunks) bytes += c.length;
  const cols: ColState[] = columns.map((c) => ({
    type: TYPE_CODE[c.type],
    data: new Out(c.type === 'String' ? bytes / Math.max(1, columns.length) + 1024 : 1024),
    total: 0,
    offsets: c.type === 'Array(String)' ? new Out(1024) : null,
    savedData: 0, savedOffsets: 0, savedTotal: 0,
  }));
  const rejected: RejectedLine[] = [];
  const text = opts.keepText ? new Out(bytes + chunks.length) : null;
  const skip = opts.skip;
  let rows = 0, skipped = 0;
  const last = columns.length - 1;
  for (let ci = 0; ci < chunks.length; ci++) {
    const src = chunks[ci]!;
    let lineStart = 0;
    for (let li = 0; lineStart < src.length; li++) {
      let lineEnd = src.indexOf(NL, lineStart);
      if (lineEnd < 0) lineEnd = src.length;
      if (skip) {
        // find the id column's text and leave the line out when it is already stored
        let p = lineStart;
        for (let k = 0; k < skip.column && p < lineEnd; k++) p = fieldEnd(src, p, lineEnd) + 1;
        if (skip.ids.has(src.toString('latin1', p, Math.min(p + 36, lineEnd)).toLowerCase())) {
          skipped++;
          lineStart = lineEnd + 1;
          continue;
        }
      }
      for (const c of cols) {
        c.savedData = c.data.pos;
        if (c.offsets) { c.savedOffsets = c.offsets.pos; c.savedTotal = c.total; }
      }
      let p = lineStart;
      let k = 0;
      try {
        for (; k <= last; k++) {
          const c = cols[k]!;
          const d = c.data;
          if (p > lineEnd) throw new FieldError('missing');
          switch (c.type) {
            case T_STRING: p = readString(src, p, lineEnd, d, false); break;
            case T_U16: p = readUInt(src, p, lineEnd, 0xffff); d.ensure(2); d.buf[d.pos++] = value & 0xff; d.buf[d.pos++] = value >>> 8; break;
            case T_U32: p = readUInt(src, p, lineEnd, 0xffffffff); d.uint32(value); break;
            case T_U64: p = readUInt(src, p, lineEnd, Number.MAX_SAFE_INTEGER); d.uint64(value); break;
            case T_TIME: p = readTime(src, p, lineEnd); d.uint64(value); break;
            case T_UUID: p = readUuid(src, p, lineEnd, d); break;
            case T_ARRAY: {
              if (src[p] !== 91) throw new FieldError("expected a list like ['a','b']");
              p++;
              if (src[p] !== 93) {
                for (;;) {
                  if (src[p] !== QUOTE) throw new FieldError("expected a list like ['a','b']");
                  p = readString(src, p + 1, lineEnd, d, true);
                  c.total++;
                  if (src[p] === 44) { p++; continue; }
                  if (src[p] === 93) break;
                  throw new FieldError("expected a list like ['a','b']");
                }
              }
              p++;
              c.offsets!.uint64(c.total);
              break;
            }
          }
          // each field ends at a tab, the last one at the end of the line
          if (k < last) {
            if (p >= lineEnd || src[p] !== TAB) throw new FieldError(p >= lineEnd ? 'missing' : 'unexpected text after the value');
            p++;
          } else if (p !== lineEnd) throw new FieldError(src.indexOf(TAB, p) >= 0 && src.indexOf(TAB, p) < lineEnd ? 'more fields than columns' : 'unexpected text after the value');
        }
        rows++;
        if (text) {
          text.ensure(lineEnd - lineStart + 1);
          src.copy(text.buf, text.pos, lineStart, lineEnd);
          text.pos += lineEnd - lineStart;
          text.buf[text.pos++] = NL;
        }
      } catch (e) {
        if (!(e instanceof FieldError)) throw e;
        for (const c of cols) {
          c.data.pos = c.savedData;
          if (c.offsets) { c.offsets.pos = c.savedOffsets; c.total = c.savedTotal; }
        }
        const name = k <= last ? columns[k]!.name : 'line';
        const message = e.message === 'missing' ? `${name}: missing (the line has fewer fields than the ${columns.length} columns)` : `${name}: ${e.message}`;
        rejected.push({ chunk: ci, line: li, error: message, raw: src.toString('utf8', lineStart, lineEnd) });
      }
      lineStart = lineEnd + 1;
    }
  }
  const block = assemble(columns, rows, cols.map((c) => (c.offsets ? [c.offsets, c.data] : [c.data])));
  return { block, rows, rejected, text: text ? text.buf.subarray(0, text.pos) : null, skipped };
}

/** The Native block: header, then each column's name, type and data (offsets first for an array). */
function assemble(columns: readonly BlockColumn[], rows: number, parts: ReadonlyArray<readonly Out[]>): Buffer {
  if (rows === 0) return Buffer.alloc(0);
  // sized once: a block of a 50,000-line batch is about 15 MB, and growing by doubling copied it twice over
  let size = 20;
  columns.forEach((c, i) => {
    size += 6 + c.name.length + c.type.length;
    for (const part of parts[i]!) size += part.pos;
  });
  const out = new Out(size);
  out.varUInt(columns.length);
  out.varUInt(rows);
  columns.forEach((c, i) => {
    out.text(c.name);
    out.text(c.type);
    for (const part of parts[i]!) {
      out.ensure(part.pos);
      part.buf.copy(out.buf, out.pos, 0, part.pos);
      out.pos += part.pos;
    }
  });
  return out.buf.subarray(0, out.pos);
}

const LONG_TEXT = 32;

/**
 * Appends a JavaScript string as varint length + UTF-8. ASCII strings of fewer than LONG_TEXT
 * characters are copied by hand (cheaper than a native call each); longer ones go through
 * `Buffer.write`, which is cheaper than copying by hand beyond that length.
 */
function writeText(out: Out, s: string): void {
  const n = s.length;
  if (n < 16384) {
    // the length is n when the string is ASCII: 1 byte of varint below 128, 2 below 16384
    const lenBytes = n < 128 ? 1 : 2;
    let w = out.pos + lenBytes;
    let ascii: boolean;
    if (n >= LONG_TEXT) {
      // room for any UTF-8 of n UTF-16 units, so nothing is cut short: n bytes written means ASCII
      out.ensure(3 * n + lenBytes);
      const written = out.buf.write(s, w, 'utf8');
      ascii = written === n;
      w += written;
    } else {
      out.ensure(n + lenBytes);
      const b = out.buf;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[w++] = c;
      }
      ascii = i === n;
    }
    const b = out.buf;
    if (ascii) {
      if (lenBytes === 1) b[out.pos] = n;
      else {
        b[out.pos] = (n & 0x7f) | 0x80;
        b[out.pos + 1] = n >>> 7;
      }
      out.pos = w;
      return;
    }
  }
  out.text(s);
}

/** Column-wise Native block: call the appender of each column once per row, in any column order. */
export class NativeBlockBuilder {
  private readonly outs: Out[];
  private readonly offsets: Out[];
  private readonly totals: number[];
  private readonly counts: number[];
  private readonly codes: number[];

  constructor(private readonly columns: readonly BlockColumn[], expectedRows = 1024) {
    this.codes = columns.map((c) => TYPE_CODE[c.type]);
    this.outs = columns.map((c) => new Out(expectedRows * (c.type === 'String' ? 16 : 8)));
    this.offsets = columns.map((c) => new Out(c.type === 'Array(String)' ? expectedRows * 8 : 16));
    this.totals = columns.map(() => 0);
    this.counts = columns.map(() => 0);
  }

  private wrongAppender(col: number): Error {
    return new Error(`${this.columns[col]?.name ?? col}: wrong appender for ${this.columns[col]?.type}`);
  }

  private check(col: number, code: number): Out {
    if (this.codes[col] !== code) throw this.wrongAppender(col);
    this.counts[col]!++;
    return this.outs[col]!;
  }

  string(col: number, s: string): void {
    writeText(this.check(col, T_STRING), s);
  }

  uint(col: number, v: number): void {
    const code = this.codes[col]!;
    const max = code === T_U16 ? 0xffff : code === T_U32 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
    if (code !== T_U16 && code !== T_U32 && code !== T_U64) throw this.wrongAppender(col);
    if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`${this.columns[col]!.name}: ${v} is not a whole number from 0 to ${max}`);
    const out = this.check(col, code);
    if (code === T_U16) {
      out.ensure(2);
      out.buf[out.pos++] = v & 0xff;
      out.buf[out.pos++] = v >>> 8;
    } else if (code === T_U32) out.uint32(v);
    else out.uint64(v);
  }

  /** DateTime64(3): epoch milliseconds (1970 on) */
  time(col: number, ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`${this.columns[col]!.name}: ${ms} is not a time from 1970 on`);
    this.check(col, T_TIME).uint64(ms);
  }

  uuid(col: number, text: string): void {
    const out = this.check(col, T_UUID);
    const src = Buffer.from(text, 'latin1');
    try {
      if (text.length !== 36) throw new FieldError('expected a UUID');
      readUuid(src, 0, src.length, out);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      throw new Error(`${this.columns[col]!.name}: "${text}" is not a UUID`);
    }
  }

  strings(col: number, values: readonly string[]): void {
    const out = this.check(col, T_ARRAY);
    for (const v of values) writeText(out, v);
    this.totals[col]! += values.length;
    this.offsets[col]!.uint64(this.totals[col]!);
  }

  /** The block; every column must have had the same number of values. */
  build(): { block: Buffer; rows: number } {
    const rows = this.counts[0] ?? 0;
    this.counts.forEach((n, i) => {
      if (n !== rows) throw new Error(`${this.columns[i]!.name}: ${n} values for ${rows} rows`);
    });
    return { block: assemble(this.columns, rows, this.columns.map((c, i) => (c.type === 'Array(String)' ? [this.offsets[i]!, this.outs[i]!] : [this.outs[i]!]))), rows };
  }
}

function readVarUInt(b: Buffer, p: number): [number, number] {
  let v = 0, shift = 1;
  for (let i = 0; i < 10; i++) {
    const c = b[p++]!;
    v += (c & 0x7f) * shift;
    if (c < 0x80) return [v, p];
    shift *= 128;
  }
  throw new Error('Native block: bad varint');
}

/** The block with one more String column at the end (one value per row). */
export function appendStringColumn(block: Buffer, name: string, values: readonly string[]): Buffer {
  const [ncols, p1] = readVarUInt(block, 0);
  const [rows, p2] = readVarUInt(block, p1);
  if (values.length !== rows) throw new Error(`${name}: ${values.length} values for ${rows} rows`);
  const out = new Out(block.length + rows * 12 + 64);
  out.varUInt(ncols + 1);
  out.varUInt(rows);
  out.ensure(block.length - p2);
  block.copy(out.buf, out.pos, p2);
  out.pos += block.length - p2;
  out.text(name);
  out.text('String');
  for (const v of values) writeText(out, v);
  return out.buf.subarray(0, out.pos);
}
