import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// Request URLs generated from squidGuard-format list entries, for the differential test against
// squidGuard: each listed domain and URL as written, and the near misses around it that show what
// an entry means (www., a deeper subdomain, a lookalike, a prefix extension, a trailing slash…).

export type VariantKind =
  | 'as-listed' | 'www' | 'subdomain' | 'lookalike-prefix' | 'lookalike-suffix' | 'upper-case' | 'extra-path'
  | 'query' | 'truncated-path' | 'parent-path' | 'prefix-extension' | 'slash-added' | 'slash-removed'
  | 'query-dropped' | 'query-extended' | 'query-param-added' | 'percent-encoded' | 'percent-decoded' | 'expression-probe';

export interface Variant {
  /** absolute URL as Squid would send it (WHATWG-normalised) */
  url: string;
  kind: VariantKind;
  /** the list line it came from */
  entry: string;
  /** category/file of that line */
  source: string;
}

const LOOKALIKE_SUFFIX = 'other-example.test';

function encodeOneChar(path: string): string | null {
  // the first letter of the last segment, as %XX (upper-case hex, as browsers write it)
  const m = /[a-zA-Z](?=[^/]*$)/.exec(path);
  if (!m) return null;
  return path.slice(0, m.index) + '%' + m[0].charCodeAt(0).toString(16).toUpperCase() + path.slice(m.index + 1);
}

function entryVariants(line: string, source: string, isUrl: boolean): Array<[string, VariantKind]> {
  const slash = line.indexOf('/');
  const host = slash < 0 ? line : line.slice(0, slash);
  const rest = slash < 0 ? '' : line.slice(slash + 1);
  const out: Array<[string, VariantKind]> = [];
  const u = (h: string, p: string) => `http://${h}/${p}`;
  out.push([u(host, rest), 'as-listed']);
  out.push([u(`www.${host}`, rest), 'www']);
  out.push([u(`deep.sub.${host}`, rest), 'subdomain']);
  out.push([u(`x${host}`, rest), 'lookalike-prefix']);
  out.push([u(`${host}.${LOOKALIKE_SUFFIX}`, rest), 'lookalike-suffix']);
  out.push([u(host.toUpperCase(), rest.toUpperCase()), 'upper-case']);
  if (!isUrl) {
    out.push([u(host, 'some/page.html'), 'extra-path']);
    out.push([u(host, '?q=1'), 'query']);
    return out.map(([url, kind]) => [url, kind]);
  }
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? null : rest.slice(q + 1);
  if (query === null) {
    out.push([u(host, `${path.replace(/\/$/, '')}/extra/page.html`), 'extra-path']);
    out.push([u(host, `${rest}?x=1`), 'query']);
    if (path.length > 1) out.push([u(host, path.slice(0, -1)), 'truncated-path']);
    const parent = path.replace(/\/$/, '').lastIndexOf('/');
    if (parent > 0) out.push([u(host, path.slice(0, parent + 1)), 'parent-path']);
    if (!path.endsWith('/')) out.push([u(host, `${path}x`), 'prefix-extension']);
    out.push(path.endsWith('/') ? [u(host, path.slice(0, -1)), 'slash-removed'] : [u(host, `${path}/`), 'slash-added']);
  } else {
    out.push([u(host, path), 'query-dropped']);
    out.push([u(host, `${rest}0`), 'query-extended']);
    out.push([u(host, `${rest}&x=1`), 'query-param-added']);
    out.push([u(host, `${path}?x=1&${query}`), 'query']);
  }
  const enc = encodeOneChar(path);
  if (enc) out.push([u(host, enc + (query === null ? '' : `?${query}`)), 'percent-encoded']);
  if (/%[0-9a-fA-F]{2}/.test(rest)) {
    try {
      out.push([u(host, decodeURIComponent(rest)), 'percent-decoded']);
    } catch { /* not UTF-8 once decoded: nothing to generate */ }
  }
  return out;
}

/**
 * URLs aimed at the UT1 `expressions` patterns of the sample (publicite, malware,
 * strict_redirector): ones each pattern should catch, in both cases, and near misses.
 */
export const EXPRESSION_PROBES = [
  'http://ads.example.test/banner/top.gif', 'http://ads.example.test/BANNER/top.gif', 'http://ads.example.test/banners/top.gif',
  'http://news.example.test/sponsor/', 'http://news.example.test/sponsors', 'http://x.example.test/event.ng/Type=click',
  'http://x.example.test/eventsng/', 'http://x.example.test/Advertisement/1.png', 'http://x.example.test/advertisement/1.png',
  'http://x.example.test/myadverts/1', 'http://x.example.test/advert/1',
  'http://192.0.2.7/search?q=123', 'http://192.0.2.7/search?q=123x', 'http://192.0.2.7/search?q=',
  'http://192.0.2.7/find?q=123',
  'http://www.google.fr/search?q=cache:abc', 'http://google.com/search?q=cachexyz', 'http://www.google.fr/search?q=nocache',
  'http://images.google.com/images?q=tbn:xyz', 'http://images.google.de/images?q=tbn', 'http://images.google.com/images?q=cats',
  'http://alltheweb.com/search?cat=img&q=x', 'http://www.alltheweb.com/search?cat=web', 'http://re2.mm-a.yimg.com/image/1',
  'http://re2.mm-ab.yimg.com/image/1',
];

/** Reads `<dir>/<category>/{domains,urls}` and returns the variants, normalised and de-duplicated. */
export function listVariants(dir: string, categories: string[]): Variant[] {
  const seen = new Set<string>();
  const out: Variant[] = [];
  for (const url of EXPRESSION_PROBES) {
    const href = new URL(url).href;
    if (!seen.has(href)) out.push({ url: href, kind: 'expression-probe', entry: '(expressions)', source: 'expressions' });
    seen.add(href);
  }
  for (const c of categories) {
    for (const file of ['domains', 'urls'] as const) {
      const path = join(dir, c, file);
      if (!existsSync(path)) continue;
      for (const raw of readFileSync(path, 'utf8').split('\n')) {
        const line = raw.replace(/\r$/, '').trim();
        if (line === '' || line.startsWith('#')) continue;
        for (const [candidate, kind] of entryVariants(line, `${c}/${file}`, file === 'urls')) {
          let url: string;
          try {
            const parsed = new URL(candidate);
            parsed.hash = '';
            url = parsed.href;
          } catch {
            continue;
          }
          if (/\s/.test(url) || seen.has(url)) continue;
          seen.add(url);
          out.push({ url, kind, entry: line, source: `${c}/${file}` });
        }
      }
    }
  }
  return out;
}
