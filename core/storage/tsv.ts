// TabSeparated escaping of single values: the event wire format (core/events/wire.ts) is one
// TabSeparated line per event, which a server is sent as it is.

const ESC = /[\\\t\n\r\0']/g;
const ESC_MAP: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0', "'": "\\'" };

/** Escapes a string for TabSeparated; most values need nothing, so check before replacing. */
export function tsvString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 || c === 9 || c === 10 || c === 13 || c === 0 || c === 39) return s.replace(ESC, (x) => ESC_MAP[x]!);
  }
  return s;
}

export function tsvField(v: unknown): string {
  if (typeof v === 'string') return tsvString(v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => `'${tsvString(String(x))}'`).join(',')}]`;
  if (v === null || v === undefined) return '\\N';
  return tsvString(String(v));
}
