// URL entries (`host/path` lines in a list's `urls` file, or in local/allow and local/deny) and the
// two ways of matching them against a request, chosen by `policy.urlMatching`:
//
//   squidguard (default)  what list authors wrote for: the entry is a string prefix of the request's
//                         `host/path?query`, on that host or its www./web./ftp. form only, so
//                         `/bo` covers `/box`, `/gambling/` does not cover `/gambling`, and
//                         `forum.php?f=13` covers `forum.php?f=13&page=2`.
//   segment               fairwatch's stricter rule: the host or any subdomain; the path matches on a
//                         segment boundary (`/bo` covers `/bo` and `/bo/x`, not `/box`), a trailing
//                         slash does not matter; an entry's query must be the request's whole query
//                         or its first parameters (`f=13` covers `f=13&page=2`, not `f=130`).
//
// Both compare lower case and with percent-escapes decoded on both sides, so `/%79gg` is `/ygg`
// and an entry written `Jogos%20de%20A%C3%A7%C3%A3o` is the page a browser requests for it.

export type UrlMatching = 'squidguard' | 'segment';

export interface UrlRule {
  /** lower case, percent-decoded: what follows the host's `/`, trailing slashes and `?query` kept */
  path: string;
  category: number;
  /** segment rule: `/` + the path part without trailing slashes */
  segPath: string;
  /** segment rule: the query part, or null when the entry has none */
  segQuery: string | null;
}

const PCT = /%[0-9a-fA-F]{2}/g;

/**
 * Decodes %XX escapes (of a lower-cased string) byte by byte into the matching code unit (a Latin-1 view of the bytes), the
 * same on both sides of a comparison; raw non-ASCII in a list line is first written as its UTF-8
 * bytes so `ação` and `a%C3%A7%C3%A3o` compare equal. Never throws on bad escapes.
 */
export function decodePercent(s: string): string {
  let out = s;
  for (let i = 0; i < out.length; i++) {
    if (out.charCodeAt(i) > 127) {
      out = Buffer.from(out, 'utf8').toString('latin1');
      break;
    }
  }
  if (out.indexOf('%') < 0) return out;
  // callers pass lower case; an escaped ASCII capital (%41) is lowered too, other bytes stay as they are
  return out.replace(PCT, (m) => {
    const c = parseInt(m.slice(1), 16);
    return String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  });
}

export function compileUrlRule(rawPath: string, category: number): UrlRule {
  const path = decodePercent(rawPath.toLowerCase());
  const q = path.indexOf('?');
  const pathPart = q < 0 ? path : path.slice(0, q);
  return { path, category, segPath: '/' + pathPart.replace(/\/+$/, ''), segQuery: q < 0 ? null : path.slice(q + 1) };
}

/**
 * Length of a leading `www.`, `web.` or `ftp.` label (with digits: `www2.`) that squidGuard
 * ignores when it compares a request with URL entries; 0 when there is none.
 */
export function wwwPrefixLength(host: string): number {
  const a = host.charCodeAt(0);
  const b = host.charCodeAt(1);
  const c = host.charCodeAt(2);
  if (!((a === 119 && b === 119 && c === 119) || (a === 119 && b === 101 && c === 98) || (a === 102 && b === 116 && c === 112))) return 0;
  let i = 3;
  while (i < host.length && host.charCodeAt(i) >= 48 && host.charCodeAt(i) <= 57) i++;
  return host.charCodeAt(i) === 46 && i + 1 < host.length ? i + 1 : 0;
}

/** The request as URL rules see it: `path` (with its leading `/`) and query, lower case, decoded. */
export interface UrlKey {
  path: string;
  query: string | null;
  /** squidguard rule: path without its leading `/`, then `?query` */
  full: string;
}

export function urlKey(path: string, query: string | undefined): UrlKey {
  const p = decodePercent(path.toLowerCase());
  const q = query ? decodePercent(query.toLowerCase()) : null;
  const bare = p.charCodeAt(0) === 47 ? p.slice(1) : p;
  return { path: p, query: q, full: q === null ? bare : `${bare}?${q}` };
}

export function matchesSquidGuard(rule: UrlRule, key: UrlKey): boolean {
  return key.full.startsWith(rule.path);
}

export function matchesSegment(rule: UrlRule, key: UrlKey): boolean {
  const sp = rule.segPath;
  const p = key.path;
  if (rule.segQuery === null) {
    if (sp.length === 1) return true; // `host/`: the whole site
    if (!p.startsWith(sp)) return false;
    return p.length === sp.length || p.charCodeAt(sp.length) === 47;
  }
  // an entry with a query names one page: the same path (trailing slashes aside) and query
  let end = p.length;
  while (end > 1 && p.charCodeAt(end - 1) === 47) end--;
  if (end !== sp.length || !p.startsWith(sp) || key.query === null) return false;
  const q = rule.segQuery;
  return key.query === q || (key.query.startsWith(q) && key.query.charCodeAt(q.length) === 38);
}
