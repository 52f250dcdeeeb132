import { escapeHtml } from '../core/pages/html.ts';

// Small HTML pages the proxy answers with itself (errors, 407, refused destinations). Every value
// that came from a request is escaped. The block page is core/pages/block.ts (proxy/tls/staff-hooks.ts).


export function page(title: string, paragraphs: string[], extraHtml = ''): string {
  return '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
    `<title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;line-height:1.5;color:#222}h1{font-size:1.4em}code{background:#f3f3f3;padding:0 .2em}</style>' +
    `</head><body><h1>${escapeHtml(title)}</h1>` +
    paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('') + extraHtml + '</body></html>\n';
}

const TITLES: Record<number, string> = {
  400: 'The proxy could not understand this request',
  403: 'This address cannot be reached through the proxy',
  404: 'There is no such page on the proxy',
  407: 'Please sign in to use the internet',
  408: 'The request took too long to arrive',
  413: 'This upload is larger than the policy allows',
  431: 'The request headers are too large',
  501: 'This kind of request is not supported',
  502: 'The site could not be reached',
  504: 'The site took too long to answer',
};

export function errorPage(status: number, message: string, reference = ''): string {
  const title = TITLES[status] ?? `Error ${status}`;
  const lines = [message];
  if (reference) lines.push(`Reference: ${reference}`);
  return page(title, lines);
}

/** A complete raw HTTP response for sockets outside Node's response object (CONNECT, parse errors). */
export function rawResponse(status: number, reason: string, body: string, extraHeaders: Record<string, string> = {}): string {
  const headers = {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    Connection: 'close',
    ...extraHeaders,
  };
  return `HTTP/1.1 ${status} ${reason}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n' + body;
}
