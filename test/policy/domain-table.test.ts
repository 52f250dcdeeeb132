import { describe, expect, it } from 'vitest';
import { CategorySets, DomainTable, DomainTableBuilder, slotLayout } from '../../core/policy/domain-table.ts';

// The table packs a record offset and a hash tag into one u32 slot, split at a width chosen from
// the pool's size. These tests build tables big enough that a wrong split, a wrong offset or a tag
// taken from the wrong bits loses or confuses names.

/** The table's hash: FNV-1a over the name reversed. */
function fnvReversed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = name.length - 1; i >= 0; i--) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
}

interface Built {
  table: DomainTable;
  sets: CategorySets;
  /** name → the categories it was added under */
  expected: Map<string, Set<number>>;
}

async function build(names: string[], categoriesOf: (name: string, i: number) => number[]): Promise<Built> {
  const sets = new CategorySets();
  // deliberately undersized: the build has to grow both its pool and its hash
  const b = new DomainTableBuilder(sets, 1024, 4096);
  const expected = new Map<string, Set<number>>();
  names.forEach((name, i) => {
    for (const c of categoriesOf(name, i)) {
      b.addString(name, c);
      let s = expected.get(name);
      if (!s) expected.set(name, (s = new Set()));
      s.add(c);
    }
  });
  return { table: await b.finish(), sets, expected };
}

/** Checks every name is found once, with its own length and exactly its categories; returns the entries. */
function expectAllFound({ table, sets, expected }: Built): Set<number> {
  const entries = new Set<number>();
  const bad: string[] = [];
  for (const [name, cats] of expected) {
    const e = table.get(name);
    const got = e < 0 ? [] : [...sets.sets[table.setOf(e)]!];
    if (e < 0 || table.nameLength(e) !== name.length || got.join(',') !== [...cats].sort((x, y) => x - y).join(',')) {
      if (bad.length < 5) bad.push(`${name}: entry ${e}, categories [${got.join(',')}], wanted [${[...cats].join(',')}]`);
    }
    entries.add(e);
  }
  expect(bad).toEqual([]);
  expect(entries.size).toBe(expected.size);
  expect(table.count).toBe(expected.size);
  return entries;
}

describe('slot layout', () => {
  it('gives the record offset exactly the bits the pool needs and the hash tag the rest', () => {
    expect(slotLayout(1000)).toMatchObject({ bits: 10, low: 1023 });
    expect(slotLayout(2 ** 24 - 1)).toMatchObject({ bits: 24, low: 2 ** 24 - 1, high: ~(2 ** 24 - 1) });
    expect(slotLayout(2 ** 24)).toMatchObject({ bits: 25, low: 2 ** 25 - 1 });
    // a pool needing all 32 bits leaves no tag: every probe reads the pool instead
    expect(slotLayout(2 ** 32 - 1)).toMatchObject({ bits: 32, low: -1, high: 0 });
  });

  it('refuses a pool of 4 GiB or more with a clear error', () => {
    expect(() => slotLayout(2 ** 32)).toThrow(/4 GiB/);
  });
});

describe('domain table', () => {
  it('finds 200k names, parents and children of each other, each with its own categories', async () => {
    const r = rng(7);
    const names: string[] = [];
    for (let i = 0; i < 40_000; i++) {
      const parent = `site${i}.zone${i % 97}.example`;
      // a name, its parent, its parent's parent and a child: suffixes of one another
      names.push(parent, `zone${i % 97}.example`, `www.${parent}`, `a${i % 5}.b.${parent}`, `x${(r() * 1e9) >>> 0}.${parent}`);
    }
    names.push('example');
    const built = await build(names, (_, i) => (i % 3 === 0 ? [i % 250, (i * 7) % 250] : [i % 250]));
    const { table } = built;
    expect(slotLayout(table.share().pool.length).bits).toBeGreaterThan(20);
    const entries = expectAllFound(built);
    // entries are record offsets, not dense numbers; still one per name
    expect([...entries].reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThan(table.count);

    for (const absent of ['', 'exampl', 'xample', 'site1.zone1.exampl', 'site1.zone2.example', 'b.site1.zone1.example', 'www.site40000.zone36.example', 'nope.invalid']) {
      expect(table.get(absent), absent).toBe(-1);
    }
    // every listed suffix, least specific first
    const out = new Uint32Array(16);
    const host = 'deep.a3.b.site123.zone26.example';
    const n = table.suffixEntries(host, false, out);
    expect(table.get('b.site123.zone26.example')).toBe(-1);
    expect([...out.subarray(0, n)]).toEqual(['example', 'zone26.example', 'site123.zone26.example', 'a3.b.site123.zone26.example'].map((h) => table.get(h)));
    expect(n).toBe(4);
    expect(table.suffixEntries('site123.zone26.example', true, out)).toBe(1);
    expect(out[0]).toBe(table.get('site123.zone26.example'));
  });

  it('tells apart names whose whole hash is the same (so tag and home slot are too)', async () => {
    // 32-bit hashes of 300k random names collide by the birthday bound (about ten pairs): find such
    // pairs and list them
    const r = rng(11);
    const random = () => `${((r() * 2 ** 32) >>> 0).toString(36)}.${((r() * 2 ** 32) >>> 0).toString(36)}.collide.test`;
    const seen = new Map<number, string>();
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 300_000 && pairs.length < 20; i++) {
      const name = random();
      const h = fnvReversed(name);
      const other = seen.get(h);
      if (other !== undefined) pairs.push([other, name]);
      else seen.set(h, name);
    }
    expect(pairs.length).toBeGreaterThan(2);
    // all 300k are listed, so a later name with a seen hash shares it with a listed name
    const names = [...seen.values(), ...pairs.map(([, b]) => b)];
    const built = await build(names, (_, i) => [i % 250]);
    expectAllFound(built);
    const { table } = built;
    for (const [a, b] of pairs) {
      expect(fnvReversed(a)).toBe(fnvReversed(b));
      expect(table.get(a)).not.toBe(table.get(b));
    }
    // a name with the same hash as a listed one, but not listed itself, is absent
    const listed = new Set(names);
    const extra = pairs.map(([a]) => a);
    for (let i = 0; i < 2_000_000 && extra.length < pairs.length + 1; i++) {
      const name = random();
      if (!listed.has(name) && seen.has(fnvReversed(name))) {
        extra.push(name);
        expect(table.get(name)).toBe(-1);
      }
    }
    expect(extra.length).toBeGreaterThan(pairs.length);
  });

  it('finds every name in a pool that needs more than 24 bits of offset', async () => {
    // ~75k names of ~230 bytes: a pool over 16 MiB, offsets past bit 24, a tag of a few bits only
    const label = (i: number, n: number) => `l${i}-${'x'.repeat(n)}`;
    const names = Array.from({ length: 75_000 }, (_, i) => `${label(i, 55)}.${label(i % 311, 56)}.${label(i % 7, 56)}.${label(i % 3, 50)}.test`);
    const built = await build(names, (_, i) => [i % 200]);
    const { table } = built;
    const bits = slotLayout(table.share().pool.length).bits;
    expect(bits).toBeGreaterThan(24);
    expectAllFound(built);
    const n = names[74_999]!;
    expect(table.get(`${n.slice(0, -5)}.tesu`)).toBe(-1);
    expect(table.get(n.slice(1))).toBe(-1);
  });

  it('answers the same from the shared arrays another thread would wrap', async () => {
    const built = await build(Array.from({ length: 5000 }, (_, i) => `s${i}.shared.test`), (_, i) => [i % 9]);
    const s = built.table.share();
    expect(Object.keys(s).sort()).toEqual(['count', 'pool', 'slots']);
    for (const a of [s.pool, s.slots]) expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    // a structured clone hands over a plain Uint8Array view of the pool
    const there = DomainTable.fromShared({ ...s, pool: new Uint8Array(s.pool.buffer, s.pool.byteOffset, s.pool.byteLength) });
    expectAllFound({ ...built, table: there });
    expect(there.bytes).toBe(built.table.bytes);
  });

  it('refuses a name too long for a record', () => {
    const b = new DomainTableBuilder(new CategorySets());
    expect(() => b.addString(`${'a'.repeat(252)}.com`, 1)).toThrow(/256 bytes/);
  });
});
