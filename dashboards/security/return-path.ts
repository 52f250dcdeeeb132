// Where to go after signing in to the console: a path on the console itself and nothing else, so
// the sign-in is not an open redirect ("//evil.example", "/\evil.example", "https://…" and
// encoded tricks are all refused).

export function safeReturnPath(raw: string | undefined | null): string | undefined {
  if (!raw || raw.length > 500) return undefined;
  if (!raw.startsWith('/') || raw.startsWith('//') || [...raw].some((ch) => ch === '\\' || /\s/.test(ch) || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) return undefined;
  try {
    const base = 'http://console.invalid';
    const u = new URL(raw, base);
    if (u.origin !== base) return undefined;
    return u.pathname + u.search;
  } catch {
    return undefined;
  }
}
