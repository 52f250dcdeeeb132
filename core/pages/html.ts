// Escaping by construction: `html\`…${value}…\`` escapes every interpolated value unless it is
// already Html (built by `html` itself or explicitly trusted with `raw`). Pages are built only from
// this, so an echoed URL, host or reason can never become markup.

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** The one HTML escaper of every page and report the proxy, the analyser and the console render. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => ESC[c]!);
}

type Part = Html | string | number | null | undefined | false | readonly Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(v);
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Trusted markup (constants in this folder only, never input). */
export function raw(text: string): Html {
  return new Html(text);
}

/** Only http(s) URLs may become a link target; anything else (javascript:, data:) becomes '#'. */
export function safeHref(url: string): string {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '#';
  } catch {
    return url.startsWith('/') && !url.startsWith('//') ? url : '#';
  }
}
