import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Decision } from '../core/policy/types.ts';
import type { Identity } from './identify.ts';
import { escapeHtml, page, rawResponse } from './pages.ts';

// What the proxy answers once the policy has decided. The forwarder calls these hooks and nothing
// else, so richer pages (warn interstitial with "continue", the AUP gate, the HTTPS block page via
// an organisation CA) replace `defaultResponseHooks` without touching the request paths.

export interface DecisionContext {
  /** the event's id, shown as the reference on pages */
  eventId: string;
  identity: Identity;
  clientIp: string;
  decision: Decision;
  target: { scheme: 'http' | 'https'; host: string; port: number; path: string; url: string };
  /** a hook that answers may set the event's action (e.g. 'aup', 'warn'); default decision.action */
  eventAction?: string;
}

export interface ResponseHooks {
  /** plain HTTP: answer and return true (block page, interstitial, redirect), or false to forward */
  http(ctx: DecisionContext, req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean>;
  /** CONNECT: write a response on the socket and return its status, or null to open the tunnel */
  connect(ctx: DecisionContext, req: IncomingMessage, socket: Duplex, head: Buffer): number | null | Promise<number | null>;
  /** origin-form requests (the proxy addressed as a web server): answer and return true, or false for 400 */
  originForm(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean>;
}

export interface PageLinks {
  /** the console's base URL as staff browsers reach it */
  consoleUrl: string;
  organisation: string;
}

export function exceptionLinks(links: PageLinks, ref: string): { exception: string; accident: string } {
  const base = links.consoleUrl.replace(/\/$/, '');
  const q = encodeURIComponent(ref);
  return { exception: `${base}/request-exception?ref=${q}`, accident: `${base}/report-accident?ref=${q}` };
}

/** docs/architecture/contract.md "Proxy behaviour", blocked plain HTTP: category, rule, clause, reference and the two links. */
export function blockPage(ctx: DecisionContext, links: PageLinks): string {
  const { exception, accident } = exceptionLinks(links, ctx.eventId);
  const d = ctx.decision;
  const facts = `<dl><dt>Address</dt><dd>${escapeHtml(ctx.target.host)}</dd>` +
    `<dt>Category</dt><dd>${escapeHtml(d.category || 'none')}</dd>` +
    `<dt>Rule</dt><dd>${escapeHtml(d.rule)}</dd>` +
    (d.signature ? `<dt>Virus found</dt><dd>${escapeHtml(d.signature)}</dd>` : '') +
    `<dt>Policy</dt><dd>${escapeHtml(d.reason || 'organisation policy')}</dd>` +
    `<dt>Reference</dt><dd><code>${escapeHtml(ctx.eventId)}</code></dd></dl>` +
    `<p><a href="${escapeHtml(exception)}">Ask for a work exception</a> · ` +
    `<a href="${escapeHtml(accident)}">Report an accidental visit</a>` +
    (d.signature ? ` · <a href="${escapeHtml(exception)}">Report a false positive</a>` : '') + '</p>';
  return page(`${links.organisation}: this site is blocked`, ['The organisation\'s internet policy does not allow this site here and now.'], facts);
}

export function defaultResponseHooks(links: PageLinks): ResponseHooks {
  return {
    http(ctx, _req, res) {
      if (ctx.decision.action !== 'block') return false;
      const body = blockPage(ctx, links);
      res.writeHead(403, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(body);
      return true;
    },
    connect(ctx, _req, socket) {
      if (ctx.decision.action !== 'block') return null;
      // Without an organisation CA the browser shows its own error for a refused tunnel; the page
      // still serves clients such as curl that display it.
      socket.end(rawResponse(403, 'Forbidden', blockPage(ctx, links)));
      return 403;
    },
    originForm() {
      return false;
    },
  };
}
