// Safe search without interception: the search engines document host names whose addresses serve
// only filtered results (Google's forcesafesearch.google.com, Bing's strict.bing.com, YouTube's
// restrict.youtube.com / restrictmoderate.youtube.com, DuckDuckGo's safe.duckduckgo.com) and ask
// networks to resolve their ordinary names to those addresses. The proxy does the same when it
// resolves a destination, so HTTPS to them stays untouched (the certificate is still theirs).
// Pure: which host to resolve instead, for a mode.

export type SafeSearchMode = 'off' | 'moderate' | 'strict';

const GOOGLE = /^(www\.)?google\.(com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$/;
const YOUTUBE = new Set(['www.youtube.com', 'm.youtube.com', 'youtube.com', 'youtubei.googleapis.com', 'youtube.googleapis.com', 'www.youtube-nocookie.com']);
const BING = new Set(['www.bing.com', 'bing.com']);
const DUCKDUCKGO = new Set(['duckduckgo.com', 'www.duckduckgo.com', 'start.duckduckgo.com']);

/** The enforcing host to resolve for `host`, or null when safe search does not apply to it. */
export function safeSearchHost(host: string, mode: SafeSearchMode): string | null {
  if (mode === 'off') return null;
  if (YOUTUBE.has(host)) return mode === 'strict' ? 'restrict.youtube.com' : 'restrictmoderate.youtube.com';
  // Google, Bing and DuckDuckGo document one enforced level: it applies for moderate and strict alike
  if (GOOGLE.test(host)) return 'forcesafesearch.google.com';
  if (BING.has(host)) return 'strict.bing.com';
  if (DUCKDUCKGO.has(host)) return 'safe.duckduckgo.com';
  return null;
}

/** The mode for a group: policy.safeSearch.groups names exceptions to policy.safeSearch.mode. */
export function safeSearchMode(cfg: { mode: SafeSearchMode; groups: Record<string, SafeSearchMode> }, group: string | undefined): SafeSearchMode {
  return (group !== undefined ? cfg.groups[group] : undefined) ?? cfg.mode;
}
