import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseListLine } from '../../core/policy/list-line.ts';
import { ListError, loadLists } from '../../core/policy/lists.ts';
import { compilePattern } from '../../core/policy/safe-pattern.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FIXTURE_LISTS } from './policy-config.ts';

const tmp = tempDir('fw-lists-');
afterAll(() => tmp.cleanup());

function listDir(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(tmp.dir, name);
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  return dir;
}

describe('one list line', () => {
  const cases: Array<[string, string, string | null]> = [
    // raw line, what it is, normalised host (null: skipped or bad)
    ['example.com', 'plain', 'example.com'],
    ['\uFEFFexample.com', 'BOM', 'example.com'],
    ['example.com\r', 'CRLF', 'example.com'],
    ['EXAMPLE.Com', 'upper case', 'example.com'],
    ['example.com.', 'trailing dot', 'example.com'],
    ['.example.com', 'leading dot', 'example.com'],
    ['*.example.com', 'leading *.', 'example.com'],
    ['bücher.de', 'IDN', 'xn--bcher-kva.de'],
    ['192.0.2.1', 'IPv4', '192.0.2.1'],
    ['[2001:DB8::1]', 'IPv6 in brackets', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', 'IPv6 long form', '2001:db8::1'],
    ['example.com:8080', 'port', 'example.com'],
    ['[2001:db8::1]:443', 'IPv6 with port', '2001:db8::1'],
    ['  example.com  # why', 'spaces and a comment', 'example.com'],
    ['# a comment', 'comment', null],
    ['', 'blank', null],
    ['   \r', 'blank CRLF', null],
  ];
  it.each(cases)('%j (%s)', (raw, _what, host) => {
    const p = parseListLine(raw, false);
    if (host === null) expect(p.kind).toBe('skip');
    else expect(p).toMatchObject({ kind: 'entry', host, path: '' });
  });

  it.each([
    ['bad..example.com', /not a host name/],
    ['two words.com', /contains a space/],
    ['example.com:70000', /bad port/],
    ['example.com/path', /a path in a domains file/],
    ['[2001:db8::1', /unclosed \[/],
    [`${'a'.repeat(64)}.com`, /not a host name/],
  ])('refuses %j', (raw, why) => {
    const p = parseListLine(raw, false);
    expect(p.kind).toBe('bad');
    expect((p as { why: string }).why).toMatch(why);
  });

  it('keeps the path of a urls line lower-cased, without a scheme, with its trailing slash and query', () => {
    expect(parseListLine('http://Example.com/Some/Path/', true)).toMatchObject({ host: 'example.com', path: 'some/path/', url: true });
    expect(parseListLine('final4ever.com/forumdisplay.php?F=13', true)).toMatchObject({ host: 'final4ever.com', path: 'forumdisplay.php?f=13', url: true });
    expect(parseListLine('example.com?x=1', true)).toMatchObject({ host: 'example.com', path: '?x=1', url: true });
    // a fragment is never sent by a browser: cut like a comment, the page before it remains
    expect(parseListLine('ytlljcko.pink/#ce', true)).toMatchObject({ host: 'ytlljcko.pink', path: '', url: true });
    expect(parseListLine('example.com/', false)).toMatchObject({ host: 'example.com', path: '', url: false });
  });
});

describe('loading a list directory', () => {
  it('loads the fixture set, counts bad lines and names file:line', async () => {
    const l = await loadLists(FIXTURE_LISTS);
    const adult = l.stats.categories.find((c) => c.name === 'adult')!;
    expect(adult.aliases).toEqual(['porn']);
    expect(adult.badLines).toBe(5);
    expect(l.stats.badLines).toBe(7); // 5 in adult/domains, 2 refused patterns
    const where = l.stats.problems.map((p) => `${p.file.replace(/^.*fixtures\//, '')}:${p.line}`);
    expect(where).toEqual([
      'blocklists/adult/domains:15', 'blocklists/adult/domains:16', 'blocklists/adult/domains:17', 'blocklists/adult/domains:18',
      'blocklists/adult/domains:20', 'blocklists/redirector/expressions:4', 'blocklists/redirector/expressions:5',
    ]);
    // duplicates collapse: example-adult.com is listed twice
    expect(l.table.get('example-adult.com')).toBeGreaterThanOrEqual(0);
    expect(l.byName.get('porn')).toBe(l.byName.get('adult'));
  });

  it('shows only the first problems but counts all of them', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => (i % 2 ? `ok${i}.example` : `bad ${i}`)).join('\n');
    // half bad is damaged-looking only above half: add good lines so the file is accepted
    const good = Array.from({ length: 300 }, (_, i) => `good${i}.example`).join('\n');
    const l = await loadLists(listDir('many-bad', { 'cat/domains': `${lines}\n${good}\n` }));
    expect(l.stats.badLines).toBe(250);
    expect(l.stats.problems.length).toBe(20);
    expect(l.stats.problems[0]).toMatchObject({ line: 1, why: 'contains a space' });
  });

  it('resolves a symlinked category and an alias file left by a checkout without symlinks', async () => {
    const dir = listDir('aliases', { 'adult/domains': 'a.example\n', 'porn': 'adult\n', 'mixed/domains': 'm.example\n' });
    symlinkSync('mixed', join(dir, 'mixed_adult'));
    const l = await loadLists(dir);
    expect(l.byName.get('porn')).toBe(l.byName.get('adult'));
    expect(l.byName.get('mixed_adult')).toBe(l.byName.get('mixed'));
    expect(l.stats.categories.map((c) => c.name)).toEqual(['adult', 'mixed']);
  });

  it('a name in several categories keeps all of them', async () => {
    const l = await loadLists(listDir('multi', { 'a/domains': 'both.example\n', 'b/domains': 'both.example\nBOTH.example.\n' }));
    const e = l.table.get('both.example');
    expect([...l.sets.sets[l.table.setOf(e)]!].map((i) => l.categories[i])).toEqual(['a', 'b']);
    expect(l.stats.entries).toBe(1);
  });

  it('refuses a binary (still compressed) file naming it', async () => {
    const dir = listDir('binary', { 'cat/domains': Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x41, 0x0a]) });
    await expect(loadLists(dir)).rejects.toThrow(/cat\/domains:1: binary data/);
  });

  it('refuses a file where most lines are not host names', async () => {
    const dir = listDir('garbage', { 'cat/domains': Array.from({ length: 40 }, (_, i) => `<html> line ${i}`).join('\n') });
    await expect(loadLists(dir)).rejects.toThrow(ListError);
    await expect(loadLists(dir)).rejects.toThrow(/cat\/domains: 40 of 40 lines are not host names \(first: line 1: contains a space\)/);
  });

  it('a missing directory is a clear error', async () => {
    await expect(loadLists(join(tmp.dir, 'nope'))).rejects.toThrow(/blocklists directory .*nope: does not exist/);
  });
});

describe('patterns', () => {
  it('refuses patterns that cannot run in linear time, with the reason', () => {
    expect(compilePattern('(a)\\1')).toEqual({ ok: false, why: expect.stringMatching(/cannot run in linear time/) });
    expect(compilePattern('(?=x)y')).toEqual({ ok: false, why: expect.stringMatching(/cannot run in linear time/) });
    // V8's linear engine (Node.js 22 and later) runs lookbehinds, so they are accepted
    expect(compilePattern('(?<=x)y')).toMatchObject({ ok: true });
    expect(compilePattern('([a-z')).toEqual({ ok: false, why: expect.stringMatching(/^bad pattern/) });
  });

  it('matches case-insensitively by lower-casing the pattern but not its escapes', () => {
    const c = compilePattern('/Advertisement/\\S+\\.GIF');
    expect(c.ok).toBe(true);
    if (c.ok) {
      expect(c.re.test('ads.example/advertisement/banner.gif')).toBe(true);
      expect(c.re.test('ads.example/advertisement/ .gif')).toBe(false);
    }
  });

  it('a catastrophic pattern finishes (V8 falls back to its linear engine)', () => {
    const c = compilePattern('^(a+)+$');
    expect(c.ok).toBe(true);
    // 2^60 backtracking steps without the fallback: this line would never return
    if (c.ok) expect(c.re.test(`${'a'.repeat(60)}b`)).toBe(false);
  });
});
