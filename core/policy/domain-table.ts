// The compiled form of millions of `domains` entries. A JS Map of strings costs ~100 bytes an
// entry (5M entries ≈ 500 MB), so entries live as records in one byte pool with an open-addressing
// hash table of record offsets. The hash runs over the name *reversed*, so one right-to-left pass
// over a request host yields the hash of every suffix (a.b.example.com, b.example.com, example.com,
// com) and a lookup costs one pass plus one probe per label.
//
// Layout, so that an entry costs little more than its name:
// - pool: one record per entry, `[name length u8][category-set id u16 LE][name bytes]`. An entry's
//   number is its record's offset, so no per-entry offset, length or set arrays are needed.
// - slots: one u32 per slot, 0 when empty. The low `bits` hold the record offset + 1, the rest a
//   tag taken from the hash's low bits (the home slot comes from its high bits), so most probes
//   that pass a different name are rejected without reading the pool. `bits` is the width the
//   pool's length needs; a pool that needs all 32 leaves no tag and every probe reads the pool,
//   which is slower but still correct.

// Both arrays live in SharedArrayBuffers: the proxy compiles the lists once per machine and its
// worker threads wrap the same memory (see share() / DomainTable.fromShared).

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Bytes before a record's name: its length and its category-set id. */
const HEAD = 3;
/** Load factor of the finished table: under 0.75, where linear probes lengthen. */
const LOAD = 0.7;
/** Build-time slot array elements placed between yields in finish() (even: slots are pairs). */
const FINISH_STEP = 1 << 20;
/** Record offsets + 1 must fit a u32 slot. */
export const MAX_POOL_BYTES = 0xffffffff;

/** Slot of a hash in a table of `n` slots: the high bits of hash × n (no power-of-two size needed). */
function home(h: number, n: number): number {
  return Math.floor((h >>> 0) * n / 4294967296);
}

/**
 * How a slot splits between record offset + 1 (low `bits`) and tag (the rest) for a pool of
 * `poolLength` bytes. Masks are int32 so `v & mask` stays a small integer on the hot path.
 */
export function slotLayout(poolLength: number): { bits: number; low: number; high: number } {
  if (poolLength > MAX_POOL_BYTES) {
    throw new RangeError(`the domain lists need a name pool of ${poolLength} bytes; the table holds at most 4 GiB of names`);
  }
  // a stored value is at most the last record's offset + 1, which is below poolLength
  const bits = Math.max(1, 32 - Math.clz32(poolLength));
  const low = bits === 32 ? -1 : 2 ** bits - 1;
  return { bits, low, high: ~low };
}

/** The slot value of the record at `offset` with hash `h` (`h << 32` is `h` in JS, but `high` is then 0). */
function slotValue(h: number, offset: number, bits: number, high: number): number {
  return ((h << bits) & high) | (offset + 1);
}

/** A zero-filled byte buffer in shared memory. */
function sharedPool(n: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(Math.max(1, n)), 0, n);
}

/** A DomainTable's arrays as they cross to a worker thread (the buffers are shared, not copied). */
export interface SharedDomainTable {
  pool: Uint8Array;
  slots: Uint32Array;
  count: number;
}

/** Sets of category numbers, interned so an entry stores one small id. Id 0 is the empty set. */
export class CategorySets {
  readonly sets: Uint8Array[] = [new Uint8Array(0)];
  private byKey = new Map<string, number>([['', 0]]);
  private unionMemo = new Map<number, number>();

  private singles: number[] = [];

  /** The sets of a CategorySets built elsewhere (read-only use: lookups in another thread). */
  static fromShared(sets: Uint8Array[]): CategorySets {
    const c = new CategorySets();
    c.sets.splice(0, c.sets.length, ...sets);
    c.byKey = new Map(sets.map((set, i) => [set.join(','), i]));
    return c;
  }

  /** The set holding just `category` (the common case: a name listed once). */
  single(category: number): number {
    return (this.singles[category] ??= this.add(0, category));
  }

  add(setId: number, category: number): number {
    const memoKey = setId * 256 + category;
    const memo = this.unionMemo.get(memoKey);
    if (memo !== undefined) return memo;
    const cur = this.sets[setId]!;
    let id = setId;
    if (!cur.includes(category)) {
      const next = Uint8Array.from([...cur, category]).sort();
      const key = next.join(',');
      let found = this.byKey.get(key);
      if (found === undefined) {
        found = this.sets.length;
        if (found > 0xffff) throw new Error('too many distinct category combinations');
        this.sets.push(next);
        this.byKey.set(key, found);
      }
      id = found;
    }
    this.unionMemo.set(memoKey, id);
    return id;
  }
}

export class DomainTable {
  private readonly bits: number;
  private readonly low: number;
  private readonly high: number;

  constructor(
    /** the records; its length fixes the slots' split, so it must be the exact pool */
    private readonly pool: Buffer,
    private readonly slots: Uint32Array,
    readonly count: number,
  ) {
    ({ bits: this.bits, low: this.low, high: this.high } = slotLayout(pool.length));
  }

  /** The arrays, for postMessage: each view's SharedArrayBuffer is shared by the receiving thread. */
  share(): SharedDomainTable {
    return { pool: this.pool, slots: this.slots, count: this.count };
  }

  /** The table over arrays another thread built (a structured clone turns the Buffer into a Uint8Array). */
  static fromShared(s: SharedDomainTable): DomainTable {
    const pool = Buffer.from(s.pool.buffer, s.pool.byteOffset, s.pool.byteLength);
    return new DomainTable(pool, s.slots, s.count);
  }

  get bytes(): number {
    return this.pool.byteLength + this.slots.byteLength;
  }

  /** Length of entry `e`'s name: which suffix of a request host a suffixEntries() hit is. */
  nameLength(e: number): number {
    return this.pool[e]!;
  }

  /** Category-set id of entry `e` (an index into CategorySets.sets). */
  setOf(e: number): number {
    return this.pool[e + 1]! | (this.pool[e + 2]! << 8);
  }

  /** Entry number of exactly `name` (already normalised), or -1. Entry numbers are not dense. */
  get(name: string): number {
    let h = FNV_OFFSET;
    for (let i = name.length - 1; i >= 0; i--) h = Math.imul(h ^ name.charCodeAt(i), FNV_PRIME);
    return this.probe(h, name, 0);
  }

  /**
   * Calls `found(entry)` for every listed suffix of `host` (already normalised), most specific
   * first. `exactOnly` for IP literals, whose "suffixes" mean nothing.
   */
  eachSuffix(host: string, exactOnly: boolean, found: (entry: number) => void): void {
    const out = new Uint32Array(128);
    const n = this.suffixEntries(host, exactOnly, out);
    for (let i = n - 1; i >= 0; i--) found(out[i]!);
  }

  /**
   * Writes the entry numbers of every listed suffix of `host` into `out`, least specific first
   * (the walk runs right to left); returns how many. No allocation: the decision hot path.
   */
  suffixEntries(host: string, exactOnly: boolean, out: Uint32Array): number {
    let h = FNV_OFFSET;
    let n = 0;
    for (let i = host.length - 1; i >= 0; i--) {
      h = Math.imul(h ^ host.charCodeAt(i), FNV_PRIME);
      if (i === 0 || (!exactOnly && host.charCodeAt(i - 1) === 46)) {
        const e = this.probe(h, host, i);
        if (e >= 0 && n < out.length) out[n++] = e;
      }
    }
    return n;
  }

  private probe(h: number, s: string, start: number): number {
    const { slots, pool, bits, low, high } = this;
    const n = slots.length;
    const len = s.length - start;
    const tag = (h << bits) & high;
    for (let slot = home(h, n); ; slot = slot + 1 === n ? 0 : slot + 1) {
      const v = slots[slot]!;
      if (v === 0) return -1;
      if ((v & high) !== tag) continue;
      const e = ((v & low) >>> 0) - 1;
      if (pool[e] !== len) continue;
      const at = e + HEAD;
      let j = 0;
      while (j < len && pool[at + j] === s.charCodeAt(start + j)) j++;
      if (j === len) return e;
    }
  }
}

/**
 * Builds a DomainTable; entries are ASCII (normalised) names of at most 253 bytes. Records go
 * straight into their final (shared) pool; the build-time hash keeps each record's full hash beside
 * its offset, so it can grow and finish() can place every entry without rehashing a name.
 */
export class DomainTableBuilder {
  private pool: Buffer;
  private poolLen = 0;
  /** slot i: [record offset + 1 (0: empty), full hash] */
  private slots: Uint32Array;
  count = 0;

  /** `expectedBytes`: about the names' total length (a list file's size will do). */
  constructor(readonly sets: CategorySets, expectedEntries = 1024, expectedBytes = 64 * 1024) {
    this.pool = sharedPool(Math.max(expectedBytes + HEAD * expectedEntries, 1024));
    // filled although already zero: touching the pages in order here is far cheaper than faulting
    // them in by the first batch of random inserts, which would stall that batch
    this.slots = new Uint32Array(2 * Math.max(1024, Math.ceil(expectedEntries / LOAD))).fill(0);
  }

  /** Adds bytes buf[start, end) (normalised, ASCII) under `category` (-1: only make sure the entry exists); returns the entry number. */
  addBytes(buf: Uint8Array, start: number, end: number, category: number): number {
    let h = FNV_OFFSET;
    for (let i = end - 1; i >= start; i--) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
    h >>>= 0;
    const len = end - start;
    if (len > 255) throw new RangeError(`a domain name of ${len} bytes is longer than a table record allows`);
    const nSlots = this.slots.length >> 1;
    const { slots, pool } = this;
    let slot = home(h, nSlots);
    for (; ; slot = slot + 1 === nSlots ? 0 : slot + 1) {
      const v = slots[slot << 1]!;
      if (v === 0) break;
      if (slots[(slot << 1) + 1] !== h) continue;
      const e = v - 1;
      if (pool[e] !== len) continue;
      const at = e + HEAD;
      let j = 0;
      while (j < len && pool[at + j] === buf[start + j]) j++;
      if (j === len) {
        if (category >= 0) this.writeSet(e, this.sets.add(pool[e + 1]! | (pool[e + 2]! << 8), category));
        return e;
      }
    }
    const e = this.poolLen;
    const end2 = e + HEAD + len;
    if (end2 > this.pool.length) this.growPool(end2);
    const dst = this.pool;
    dst[e] = len;
    this.writeSet(e, category >= 0 ? this.sets.single(category) : 0);
    for (let j = 0; j < len; j++) dst[e + HEAD + j] = buf[start + j]!;
    this.poolLen = end2;
    this.count++;
    slots[slot << 1] = e + 1;
    slots[(slot << 1) + 1] = h;
    if (this.count * 2 > slots.length * 0.75) this.rehash();
    return e;
  }

  addString(name: string, category: number): number {
    const b = Buffer.from(name, 'latin1');
    return this.addBytes(b, 0, b.length, category);
  }

  private writeSet(e: number, set: number): void {
    this.pool[e + 1] = set & 0xff;
    this.pool[e + 2] = set >>> 8;
  }

  private growPool(need: number): void {
    // refused here, while building, rather than after gigabytes of work in finish()
    slotLayout(need);
    const bigger = sharedPool(Math.min(MAX_POOL_BYTES, Math.max(this.pool.length * 2, need)));
    this.pool.copy(bigger, 0, 0, this.poolLen);
    this.pool = bigger;
  }

  private rehash(): void {
    const old = this.slots;
    const slots = new Uint32Array(old.length * 2);
    const n = slots.length >> 1;
    for (let i = 0; i < old.length; i += 2) {
      const v = old[i]!;
      if (v === 0) continue;
      const h = old[i + 1]!;
      let slot = home(h, n);
      while (slots[slot << 1] !== 0) slot = slot + 1 === n ? 0 : slot + 1;
      slots[slot << 1] = v;
      slots[(slot << 1) + 1] = h;
    }
    this.slots = slots;
  }

  /**
   * The finished table: the pool trimmed, the slots rebuilt at their final size (the builder must
   * not be used afterwards). Yields to the event loop between steps of the rebuild, as the list
   * loader does between lines, so a reload in a serving process does not stall it.
   */
  async finish(): Promise<DomainTable> {
    let pool = this.pool.subarray(0, this.poolLen);
    // copy only when over-allocated by more than an eighth (a copy briefly doubles the pool)
    if (this.pool.length - this.poolLen > this.pool.length / 8) {
      pool = sharedPool(this.poolLen);
      this.pool.copy(pool, 0, 0, this.poolLen);
    }
    const n = Math.max(1, Math.ceil(this.count / LOAD));
    const slots = new Uint32Array(new SharedArrayBuffer(n * 4));
    for (let from = 0; from < this.slots.length; from += FINISH_STEP) {
      if (from > 0) await new Promise((r) => setImmediate(r));
      this.place(slots, from, Math.min(from + FINISH_STEP, this.slots.length));
    }
    return new DomainTable(pool, slots, this.count);
  }

  /** Places the entries of build-time slots [from, to) into the final `slots`. */
  private place(slots: Uint32Array, from: number, to: number): void {
    const { bits, high } = slotLayout(this.poolLen);
    const old = this.slots;
    const n = slots.length;
    for (let i = from; i < to; i += 2) {
      const v = old[i]!;
      if (v === 0) continue;
      const h = old[i + 1]!;
      let slot = home(h, n);
      while (slots[slot] !== 0) slot = slot + 1 === n ? 0 : slot + 1;
      slots[slot] = slotValue(h, v - 1, bits, high);
    }
  }
}
