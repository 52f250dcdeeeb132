// Every relative Markdown link in README.md and docs/ must name a file that exists, and an anchor
// (#…) must name a heading of that file, so moving a page or renaming a heading cannot leave a
// reader at a dead end.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...markdownFiles(p));
    else if (name.endsWith('.md')) out.push(p);
  }
  return out;
}

/** The text outside fenced code blocks and inline code, where a `[x](y)` is a link. */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fenced = false;
  text.split('\n').forEach((l, i) => {
    if (/^\s*```/.test(l)) { fenced = !fenced; return; }
    if (!fenced) out.push({ line: i + 1, text: l.replace(/`[^`]*`/g, '``') });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const l of text.split('\n')) {
    if (/^\s*```/.test(l)) { fenced = !fenced; continue; }
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    if (!m) continue;
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const LINK = /\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;

describe('documentation links', () => {
  const files = [join(root, 'README.md'), ...markdownFiles(join(root, 'docs'))];

  it('finds the pages it checks', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it('every relative link in README.md and docs/ resolves to a file, and every #anchor to a heading', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const { line, text: l } of proseLines(text)) {
        for (const m of l.matchAll(LINK)) {
          const target = m[1]!;
          if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
          checked++;
          const [path, anchor] = target.split('#', 2) as [string, string | undefined];
          const where = `${relative(root, file)}:${line}: ${target}`;
          const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
          if (!dest.startsWith(root)) { broken.push(`${where} (outside the repository)`); continue; }
          if (!existsSync(dest)) { broken.push(`${where} (no such file)`); continue; }
          if (anchor && dest.endsWith('.md') && !headingAnchors(readFileSync(dest, 'utf8')).has(anchor)) {
            broken.push(`${where} (no heading #${anchor} in ${relative(root, dest)})`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });

  it('computes anchors as GitHub does', () => {
    const a = headingAnchors('# Proxy auto-configuration (PAC / WPAD)\n## ClickHouse tables (database `fairwatch`)\n## Tests\n## Tests\n```\n# not a heading\n```\n');
    expect([...a]).toEqual(['proxy-auto-configuration-pac--wpad', 'clickhouse-tables-database-fairwatch', 'tests', 'tests-1']);
  });
});
