import { escapeHtml } from './html.ts';

// Without an organisation CA a blocked CONNECT can only be refused (docs/architecture/contract.md, "Proxy behaviour": 403 with a short
// page). Browsers do not show a proxy's CONNECT answer, but curl and logs do.
export function shortBlockPage(host: string, reason: string, eventId: string): string {
  return `<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Blocked</title></head><body><h1>Blocked</h1><p>${escapeHtml(host)} is blocked by the internet policy: ${escapeHtml(reason)}</p><p>Reference: ${escapeHtml(eventId)}</p></body></html>\n`;
}
