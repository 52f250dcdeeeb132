// The compiled form of millions of `domains` entries. A JS Map of strings costs ~100 bytes an
// entry (5M entries ≈ 500 MB), so entries live as bytes in one pool with an open-addressing hash
// table of entry numbers. The hash runs over the name *reversed*, so one right-to-left pass over a
// request host yields the hash of every suffix (a.b.example.com, b.example.com, example.com, com)
// and a lookup costs one pass plus one probe per label.

// Every array lives in a SharedArrayBuffer: the proxy compiles the lists once per machine and its
// worker threads wrap the same memory (see share() / DomainTable.fromShared).

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Slot of a hash in a table of `n` slots: the high bits of hash × n (no power-of-two size needed). */
function home(h: number, n: number): number {
  return Math.floor((h >>> 0) * n / 4294967296);
}

type Shareable = Uint8Array | Uint16Array | Uint32Array | Int32Array;
type ShareableCtor<T extends Shareable> = { new (buffer: SharedArrayBuffer, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

/** A zero-filled typed array of `n` elements in shared memory. */
function sharedArray<T extends Shareable>(Ctor: ShareableCtor<T>, n: number): T {
  return new Ctor(new SharedArrayBuffer(Math.max(1, n) * Ctor.BYTES_PER_ELEMENT), 0, n);
}

/** The first `n` elements of `a` in a shared buffer of exactly that size. */
function sharedCopy<T extends Shareable>(Ctor: ShareableCtor<T>, a: T, n: number): T {
  const b = sharedArray(Ctor, n);
  b.set(a.subarray(0, n));
  return b;
}

const sharedPool = (n: number): Buffer => {
  const sab = new SharedArrayBuffer(Math.max(1, n));
  return Buffer.from(sab, 0, n);
};

/** A DomainTable's arrays as they cross to a worker thread (the buffers are shared, not copied). */
export interface SharedDomainTable {
  pool: Uint8Array;
  slots: Int32Array;
  offs: Uint32Array;
  lens: Uint8Array;
  setOf: Uint16Array;
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
  constructor(
    private readonly pool: Buffer,
    private readonly slots: Int32Array,
    private readonly offs: Uint32Array,
    private readonly lens: Uint8Array,
    /** category-set id per entry */
    readonly setOf: Uint16Array,
    readonly count: number,
  ) {}

  /** The arrays, for postMessage: each view's SharedArrayBuffer is shared by the receiving thread. */
  share(): SharedDomainTable {
    return { pool: this.pool, slots: this.slots, offs: this.offs, lens: this.lens, setOf: this.setOf, count: this.count };
  }

  /** The table over arrays another thread built (a structured clone turns the Buffer into a Uint8Array). */
  static fromShared(s: SharedDomainTable): DomainTable {
    const pool = Buffer.from(s.pool.buffer, s.pool.byteOffset, s.pool.byteLength);
    return new DomainTable(pool, s.slots, s.offs, s.lens, s.setOf, s.count);
  }

  get bytes(): number {
    return this.pool.byteLength + this.slots.byteLength + this.offs.byteLength + this.lens.byteLength + this.setOf.byteLength;
  }

  /** Length of entry `e`'s name: which suffix of a request host a suffixEntries() hit is. */
  nameLength(e: number): number {
    return this.lens[e]!;
  }

  /** Entry number of exactly `name` (already normalised), or -1. */
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
    const out = new Int32Array(128);
    const n = this.suffixEntries(host, exactOnly, out);
    for (let i = n - 1; i >= 0; i--) found(out[i]!);
  }

  /**
   * Writes the entry numbers of every listed suffix of `host` into `out`, least specific first
   * (the walk runs right to left); returns how many. No allocation: the decision hot path.
   */
  suffixEntries(host: string, exactOnly: boolean, out: Int32Array): number {
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
    const n = this.slots.length >> 1;
    const len = s.length - start;
    const { slots, lens, offs, pool } = this;
    for (let slot = home(h, n); ; slot = slot + 1 === n ? 0 : slot + 1) {
      const e = slots[slot << 1]!;
      if (e < 0) return -1;
      if (slots[(slot << 1) + 1] !== h || lens[e] !== len) continue;
      const off = offs[e]!;
      let j = 0;
      while (j < len && pool[off + j] === s.charCodeAt(start + j)) j++;
      if (j === len) return e;
    }
  }
}

/** Builds a DomainTable; entries are ASCII (normalised) names of at most 253 bytes. */
export class DomainTableBuilder {
  private pool: Buffer;
  private poolLen = 0;
  private slots: Int32Array;
  private offs: Uint32Array;
  private lens: Uint8Array;
  private setOf: Uint16Array;
  count = 0;

  constructor(readonly sets: CategorySets, expectedEntries = 1024, expectedBytes = 64 * 1024) {
    this.pool = sharedPool(Math.max(expectedBytes, 1024));
    // slot i holds [entry, full hash] side by side: a probe compares hashes without touching the
    // entry arrays, so a miss costs about one cache line
    // (sized for a load factor of 0.7, so it stays under 0.75 where probes lengthen)
    this.slots = sharedArray(Int32Array, 2 * Math.max(1024, Math.ceil(expectedEntries / 0.7))).fill(-1);
    const cap = Math.max(expectedEntries, 1024);
    this.offs = sharedArray(Uint32Array, cap);
    this.lens = sharedArray(Uint8Array, cap);
    this.setOf = sharedArray(Uint16Array, cap);
  }

  /** Adds bytes buf[start, end) (normalised, ASCII) under `category` (-1: only make sure the entry exists); returns the entry number. */
  addBytes(buf: Uint8Array, start: number, end: number, category: number): number {
    let h = FNV_OFFSET;
    for (let i = end - 1; i >= start; i--) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
    const len = end - start;
    const nSlots = this.slots.length >> 1;
    const { slots, lens, offs } = this;
    const pool = this.pool;
    let slot = home(h, nSlots);
    for (; ; slot = slot + 1 === nSlots ? 0 : slot + 1) {
      const e = slots[slot << 1]!;
      if (e < 0) break;
      if (slots[(slot << 1) + 1] !== h || lens[e] !== len) continue;
      const off = offs[e]!;
      let j = 0;
      while (j < len && pool[off + j] === buf[start + j]) j++;
      if (j === len) {
        if (category >= 0) this.setOf[e] = this.sets.add(this.setOf[e]!, category);
        return e;
      }
    }
    const e = this.count++;
    if (e >= this.offs.length) this.growEntries();
    if (this.poolLen + len > this.pool.length) {
      const bigger = sharedPool(Math.max(this.pool.length * 2, this.poolLen + len));
      this.pool.copy(bigger, 0, 0, this.poolLen);
      this.pool = bigger;
    }
    const dst = this.pool;
    const at = this.poolLen;
    for (let j = 0; j < len; j++) dst[at + j] = buf[start + j]!;
    this.offs[e] = at;
    this.lens[e] = len;
    this.setOf[e] = category >= 0 ? this.sets.single(category) : 0;
    this.poolLen += len;
    this.slots[slot << 1] = e;
    this.slots[(slot << 1) + 1] = h;
    if (this.count * 2 > this.slots.length * 0.75) this.rehash();
    return e;
  }

  addString(name: string, category: number): number {
    const b = Buffer.from(name, 'latin1');
    return this.addBytes(b, 0, b.length, category);
  }

  private growEntries(): void {
    const cap = this.offs.length * 2;
    const grow = <T extends Shareable>(Ctor: ShareableCtor<T>, a: T): T => {
      const b = sharedArray(Ctor, cap);
      b.set(a);
      return b;
    };
    this.offs = grow(Uint32Array, this.offs);
    this.lens = grow(Uint8Array, this.lens);
    this.setOf = grow(Uint16Array, this.setOf);
  }

  private rehash(): void {
    const old = this.slots;
    const slots = sharedArray(Int32Array, old.length * 2).fill(-1);
    const n = slots.length >> 1;
    for (let i = 0; i < old.length; i += 2) {
      const e = old[i]!;
      if (e < 0) continue;
      const h = old[i + 1]!;
      let slot = home(h, n);
      while (slots[slot << 1]! >= 0) slot = slot + 1 === n ? 0 : slot + 1;
      slots[slot << 1] = e;
      slots[(slot << 1) + 1] = h;
    }
    this.slots = slots;
  }

  /** The finished table, trimmed to size (the builder must not be used afterwards). */
  finish(): DomainTable {
    const n = this.count;
    // copy only when over-allocated by more than an eighth (a copy briefly doubles the memory)
    const over = (length: number, used: number) => length - used > length / 8;
    const trim = <T extends Shareable>(Ctor: ShareableCtor<T>, a: T): T => (over(a.length, n) ? sharedCopy(Ctor, a, n) : a.subarray(0, n) as T);
    const pool = over(this.pool.length, this.poolLen) ? sharedCopy(Uint8Array, this.pool as Uint8Array, this.poolLen) : this.pool.subarray(0, this.poolLen);
    return new DomainTable(Buffer.from(pool.buffer, pool.byteOffset, pool.byteLength), this.slots, trim(Uint32Array, this.offs), trim(Uint8Array, this.lens), trim(Uint16Array, this.setOf), n);
  }
}
