import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CategorySets, DomainTable, DomainTableBuilder, type SharedDomainTable } from './domain-table.ts';
import { parseListLine } from './list-line.ts';
import { compilePattern } from './safe-pattern.ts';
import { compileUrlRule, type UrlRule } from './url-rules.ts';
import { FairwatchError } from '../errors.ts';

// Loads a squidGuard / UT1 directory: one folder per category with `domains`, `urls` and
// `expressions`, plus the organisation's own `local/allow` and `local/deny` (one domain or
// domain/path per line). A bad line is counted and reported with file:line, never fatal: one typo
// in a 4-million-line list must not switch filtering off.

export const LOCAL_DENY = 0;
export const LOCAL_ALLOW = 1;

export type { UrlRule } from './url-rules.ts';

export interface ListProblem {
  file: string;
  line: number;
  why: string;
}

export interface CategoryStats {
  name: string;
  domains: number;
  urls: number;
  expressions: number;
  badLines: number;
  /** other names (symlinks, alias files) that mean this category */
  aliases: string[];
}

export interface CompiledLists {
  /** index → canonical category name; 0 and 1 are local-deny and local-allow */
  categories: string[];
  /** every accepted name (canonical or alias) → index */
  byName: Map<string, number>;
  table: DomainTable;
  sets: CategorySets;
  urlRules: Map<number, UrlRule[]>;
  expressions: Array<{ category: number; re: RegExp; source: string }>;
  stats: {
    dir: string;
    categories: CategoryStats[];
    entries: number;
    badLines: number;
    /** the first problems, for logs and `blocklists stats` */
    problems: ListProblem[];
    loadMs: number;
    tableBytes: number;
  };
}

/** CompiledLists as it crosses to a worker thread: the table's buffers are shared, the rest copied. */
export type SharedLists = Omit<CompiledLists, 'table' | 'sets'> & { table: SharedDomainTable; sets: Uint8Array[] };

export function shareLists(l: CompiledLists): SharedLists {
  return { ...l, table: l.table.share(), sets: l.sets.sets };
}

export function listsFromShared(s: SharedLists): CompiledLists {
  return { ...s, table: DomainTable.fromShared(s.table), sets: CategorySets.fromShared(s.sets) };
}

export class ListError extends FairwatchError {
  constructor(message: string) {
    super('FW_LISTS', message);
  }
}

const MAX_PROBLEMS_SHOWN = 20;
const YIELD_LINES = 50_000;
const CATEGORY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function isFastByte(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95;
}

async function fileOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EISDIR') return null;
    throw e;
  }
}

export async function loadLists(dir: string): Promise<CompiledLists> {
  const started = performance.now();
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    throw new ListError(`blocklists directory ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`);
  }
  const categories = ['local-deny', 'local-allow'];
  const byName = new Map<string, number>([['local-deny', LOCAL_DENY], ['local-allow', LOCAL_ALLOW]]);
  const statsByIndex: CategoryStats[] = [];
  const byRealPath = new Map<string, number>();
  const aliasFiles: Array<[string, string]> = [];
  const dirs: Array<{ name: string; path: string; index: number }> = [];
  let expectedBytes = 0;

  // real directories first, so a symlink (porn → adult) never becomes the canonical name
  const isLink = new Set<string>();
  for (const name of names) if ((await lstat(join(dir, name)).catch(() => null))?.isSymbolicLink()) isLink.add(name);
  const ordered = [...names.filter((n) => !isLink.has(n)), ...names.filter((n) => isLink.has(n))];
  for (const name of ordered) {
    if (name === 'local' || name.startsWith('.') || !CATEGORY_NAME.test(name)) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => null);
    if (!st) continue;
    if (st.isFile()) {
      // a symlink checked out without symlink support: a tiny file holding the target's name
      if (st.size > 0 && st.size < 64) {
        const target = (await readFile(path, 'utf8')).trim();
        if (CATEGORY_NAME.test(target) && names.includes(target)) aliasFiles.push([name, target]);
      }
      continue;
    }
    if (!st.isDirectory()) continue;
    const real = await realpath(path);
    const same = byRealPath.get(real);
    if (same !== undefined) {
      byName.set(name, same);
      continue;
    }
    const index = categories.length;
    if (index > 255) throw new ListError(`${dir}: more than 253 categories`);
    categories.push(name);
    byName.set(name, index);
    byRealPath.set(real, index);
    dirs.push({ name, path, index });
    for (const f of ['domains', 'urls']) expectedBytes += (await stat(join(path, f)).catch(() => null))?.size ?? 0;
  }
  // symlinked directories resolve by real path above; alias files by name, once all are known
  for (const [alias, target] of aliasFiles) {
    const idx = byName.get(target);
    if (idx !== undefined && !byName.has(alias)) byName.set(alias, idx);
  }

  const sets = new CategorySets();
  // UT1 lines average ~17 bytes; sizing up front avoids rehashing millions of entries
  const builder = new DomainTableBuilder(sets, Math.ceil(expectedBytes / 18) + 1024, expectedBytes + 4096);
  const urlRules = new Map<number, UrlRule[]>();
  const expressions: CompiledLists['expressions'] = [];
  const problems: ListProblem[] = [];
  let badLines = 0;
  const bad = (file: string, line: number, why: string) => {
    badLines++;
    if (problems.length < MAX_PROBLEMS_SHOWN) problems.push({ file, line, why });
  };

  const addUrlOrDomain = (file: string, lineNo: number, raw: string, category: number, allowPath: boolean): 'domain' | 'url' | null => {
    const p = parseListLine(raw, allowPath);
    if (p.kind === 'skip') return null;
    if (p.kind === 'bad') {
      bad(file, lineNo, p.why);
      return null;
    }
    if (!p.url) {
      builder.addString(p.host, category);
      return 'domain';
    }
    const e = builder.addString(p.host, -1);
    let rules = urlRules.get(e);
    if (!rules) urlRules.set(e, (rules = []));
    const rule = compileUrlRule(p.path, category);
    if (!rules.some((r) => r.path === rule.path && r.category === category)) rules.push(rule);
    return 'url';
  };

  for (const d of dirs) {
    const st: CategoryStats = { name: d.name, domains: 0, urls: 0, expressions: 0, badLines: 0, aliases: [] };
    const before = badLines;
    const domainsFile = join(d.path, 'domains');
    const buf = await fileOrNull(domainsFile);
    if (buf) {
      refuseBinary(buf, domainsFile);
      const badBefore = badLines;
      st.domains = await addDomainsBuffer(buf, domainsFile, d.index);
      refuseMostlyBad(domainsFile, badLines - badBefore, st.domains, problems);
    }
    const urlsFile = join(d.path, 'urls');
    const ubuf = await fileOrNull(urlsFile);
    if (ubuf) {
      refuseBinary(ubuf, urlsFile);
      const lines = ubuf.toString('utf8').split('\n');
      for (let i = 0; i < lines.length; i++) {
        const kind = addUrlOrDomain(urlsFile, i + 1, lines[i]!, d.index, true);
        if (kind) st.urls++;
      }
    }
    const exprFile = join(d.path, 'expressions');
    const ebuf = await fileOrNull(exprFile);
    if (ebuf) {
      const lines = ebuf.toString('utf8').replace(/^\uFEFF/, '').split('\n');
      for (let i = 0; i < lines.length; i++) {
        const src = lines[i]!.replace(/\r$/, '').trim();
        if (src === '' || src.startsWith('#')) continue;
        const c = compilePattern(src);
        if (!c.ok) {
          bad(exprFile, i + 1, c.why);
          continue;
        }
        expressions.push({ category: d.index, re: c.re, source: src });
        st.expressions++;
      }
    }
    st.badLines = badLines - before;
    statsByIndex.push(st);
  }

  // the organisation's own lists: local/allow and local/deny (optional)
  const localStats: CategoryStats = { name: 'local', domains: 0, urls: 0, expressions: 0, badLines: 0, aliases: [] };
  for (const [file, cat] of [['deny', LOCAL_DENY], ['allow', LOCAL_ALLOW]] as const) {
    const path = join(dir, 'local', file);
    const b = await fileOrNull(path);
    if (!b) continue;
    refuseBinary(b, path);
    const before = badLines;
    const lines = b.toString('utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const kind = addUrlOrDomain(path, i + 1, lines[i]!, cat, true);
      if (kind === 'domain') localStats.domains++;
      else if (kind === 'url') localStats.urls++;
    }
    localStats.badLines += badLines - before;
  }
  if (localStats.domains + localStats.urls + localStats.badLines > 0) statsByIndex.unshift(localStats);
  for (const [name, idx] of byName) {
    if (idx > LOCAL_ALLOW && categories[idx] !== name) statsByIndex.find((s) => s.name === categories[idx])?.aliases.push(name);
  }

  const table = await builder.finish();
  return {
    categories, byName, table, sets, urlRules, expressions,
    stats: {
      dir,
      categories: statsByIndex,
      entries: table.count,
      badLines,
      problems,
      loadMs: performance.now() - started,
      tableBytes: table.bytes,
    },
  };

  /** A NUL byte means a binary file (often a list still gzip-compressed): refuse the whole set. */
function refuseBinary(buf: Buffer, file: string): void {
  const nul = buf.indexOf(0);
  if (nul < 0) return;
  let line = 1;
  for (let i = buf.indexOf(10); i >= 0 && i < nul; i = buf.indexOf(10, i + 1)) line++;
  throw new ListError(`${file}:${line}: binary data (a NUL byte), not a list file; is it still compressed?`);
}

/** A file where most lines are not host names is damaged (truncated download, wrong file): refuse it. */
function refuseMostlyBad(file: string, bad: number, good: number, problems: ListProblem[]): void {
  if (bad < 20 || bad <= good) return;
  const first = problems.find((p) => p.file === file);
  throw new ListError(`${file}: ${bad} of ${bad + good} lines are not host names${first ? ` (first: line ${first.line}: ${first.why})` : ''}; refusing the file`);
}

  /**
   * The hot loop: plain lower-case lines go straight from the file's bytes into the table. It
   * yields to the event loop every YIELD_LINES lines so a proxy reloading 4.6M adult entries keeps
   * answering with the old snapshot meanwhile.
   */
  async function addDomainsBuffer(buf: Buffer, file: string, category: number): Promise<number> {
    let accepted = 0;
    let lineNo = 0;
    let start = 0;
    const n = buf.length;
    while (start < n) {
      if (lineNo % YIELD_LINES === YIELD_LINES - 1) await new Promise((r) => setImmediate(r));
      let end = buf.indexOf(10, start);
      if (end < 0) end = n;
      lineNo++;
      let e = end;
      if (e > start && buf[e - 1] === 13) e--;
      let fast = e > start && e - start <= 253 && buf[start] !== 46 && buf[e - 1] !== 46;
      for (let i = start, label = 0; fast && i < e; i++) {
        const c = buf[i]!;
        label = c === 46 ? 0 : label + 1;
        if (!isFastByte(c) || (c === 46 && buf[i + 1] === 46) || label > 63) fast = false;
      }
      if (fast) {
        builder.addBytes(buf, start, e, category);
        accepted++;
      } else if (addUrlOrDomain(file, lineNo, buf.toString('utf8', start, e), category, false)) {
        accepted++;
      }
      start = end + 1;
    }
    return accepted;
  }
}
