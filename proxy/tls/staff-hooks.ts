import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Config } from '../../core/config/schema.ts';
import { AupGate } from '../../core/identity/aup.ts';
import type { PageTokens } from '../../core/identity/page-token.ts';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { pageHeaders, shortBlockPage, StaffPages, type Page, type PageEvent } from '../../core/pages/index.ts';
import { localDay, readPersonState } from '../../core/policy/person-state.ts';
import type { LeafMinter } from '../../core/tls/leaf.ts';
import type { DecisionContext, ResponseHooks } from '../response-hooks.ts';
import { rawResponse } from '../pages.ts';
import { serveBlockOverTls } from './intercept.ts';

// The staff-facing answers of the proxy (ResponseHooks of response-hooks.ts): the acceptable-use
// gate, the block page, the warning interstitial, over plain HTTP and — with an organisation CA —
// over HTTPS by terminating TLS for the blocked host only. An allowed CONNECT returns null here and
// is spliced by tunnel.ts untouched, or opened by tls/inspect.ts when policy.inspect names it.

export interface StaffHooksOptions {
  config: Config;
  redis: Redis;
  tokens: PageTokens;
  pseudonyms: Pseudonymiser;
  /**
   * the console as browsers reach it (its port may only be known once it listens); given the
   * proxy's local address on the client's connection, for a console bound to every interface
   */
  consoleUrl: (proxyAddress?: string) => string;
  /** null without an organisation CA: blocked HTTPS gets the 403 short page (core/pages/short.ts) */
  minter: LeafMinter | null;
  /** the statement gate; default one on `redis` for config.aup.version */
  aup?: AupGate;
}

export function staffHooks(opts: StaffHooksOptions): ResponseHooks & { aup: AupGate; pages: (proxyAddress?: string) => StaffPages } {
  const aup = opts.aup ?? new AupGate(opts.redis, opts.config.aup.version);
  let pages: StaffPages | null = null;
  let pagesFor = '';
  const staffPages = (proxyAddress?: string) => {
    const url = opts.consoleUrl(proxyAddress);
    if (!pages || pagesFor !== url) {
      pages = new StaffPages(opts.config, opts.tokens, url);
      pagesFor = url;
    }
    return pages;
  };

  const pageEvent = (ctx: DecisionContext): PageEvent => ({
    eventId: ctx.eventId,
    at: new Date(),
    // CONNECT targets are host:port; pages want an address a person recognises
    url: ctx.target.url.includes('://') ? ctx.target.url : `https://${ctx.target.host}/`,
    host: ctx.target.host,
    // guests have no person: their pages are bound to the device
    userPseudonym: ctx.identity.user ? opts.pseudonyms.user(ctx.identity.user) : opts.pseudonyms.client(ctx.clientIp),
    group: ctx.identity.group,
  });

  /** Guests are not asked (no person to record an acceptance for); nor is anyone this process saw accept. */
  const surelyNotAsked = (ctx: DecisionContext): boolean =>
    !ctx.identity.user || aup.knownAccepted(opts.pseudonyms.user(ctx.identity.user));

  /** Everyone else is asked once per version of the statement. */
  const needsAup = async (ctx: DecisionContext): Promise<boolean> => {
    if (surelyNotAsked(ctx)) return false;
    try {
      return !(await aup.accepts(opts.pseudonyms.user(ctx.identity.user!)));
    } catch {
      // Redis away: browsing never stops on storage; the gate asks again when it is back
      return false;
    }
  };

  /**
   * A warning the person has just continued past (on the console, a moment ago) may not have
   * reached this process's policy cache yet; one Redis read before showing the page again settles it.
   */
  const continuedJustNow = async (ctx: DecisionContext): Promise<boolean> => {
    if (!ctx.identity.user) return false;
    try {
      const st = await readPersonState(opts.redis, opts.pseudonyms.user(ctx.identity.user), localDay(new Date(), opts.config.organisation.timezone));
      return (st.continues.get(ctx.decision.category) ?? 0) > Date.now();
    } catch {
      return false;
    }
  };

  const writePage = (res: ServerResponse, page: Page) => {
    res.writeHead(page.status, pageHeaders(page));
    res.end(page.html);
  };

  /** 200, then TLS as the blocked host, then `page` for every request on that connection. */
  const overTls = (socket: Duplex, head: Buffer, host: string, page: (path: string) => Page): number => {
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    serveBlockOverTls(socket, head, {
      host, minter: opts.minter!,
      handler: (req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        // the path the browser asked for inside the tunnel, without its query string
        writePage(res, page((req.url ?? '/').split('?')[0]!.slice(0, 2000) || '/'));
      },
    });
    return 200;
  };

  /** plain HTTP: the gate's redirect, or the block or warning page; false when the request goes on */
  const answerHttp = async (ctx: DecisionContext, req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const pages = staffPages(req.socket.localAddress);
    if (await needsAup(ctx)) {
      ctx.eventAction = 'aup';
      ctx.decision = { ...ctx.decision, rule: 'aup' };
      res.writeHead(302, { Location: pages.aupLocation(pageEvent(ctx)), 'Cache-Control': 'no-store', 'Content-Length': 0 });
      res.end();
      return true;
    }
    const d = ctx.decision;
    if (d.action === 'block') {
      writePage(res, pages.block(pageEvent(ctx), d));
      return true;
    }
    if (d.action === 'warn') {
      if (await continuedJustNow(ctx)) return false;
      writePage(res, pages.warn(pageEvent(ctx), d));
      return true;
    }
    return false;
  };

  return {
    aup,
    pages: staffPages,
    http(ctx, req, res) {
      // an allowed request from someone the gate has nothing to ask (nearly every request): no page, no wait
      const d = ctx.decision;
      if (d.action !== 'block' && d.action !== 'warn' && surelyNotAsked(ctx)) return false;
      return answerHttp(ctx, req, res);
    },

    async connect(ctx, req, socket, head) {
      const pages = staffPages(req.socket.localAddress);
      const ev = pageEvent(ctx);
      const d = ctx.decision;
      const gate = await needsAup(ctx);
      if (gate) ctx.eventAction = 'aup';
      if (!gate && d.action !== 'block' && d.action !== 'warn') return null;
      if (!gate && d.action === 'warn' && (await continuedJustNow(ctx))) return null;
      if (!opts.minter) {
        // No CA: a warning cannot be shown inside TLS, and browsing must not stop for one.
        if (!gate && d.action === 'warn') return null;
        const why = gate ? `accept the acceptable-use statement first: ${pages.aupLocation(ev)}` : d.reason;
        socket.end(rawResponse(403, 'Forbidden', shortBlockPage(ctx.target.host, why, ctx.eventId)));
        return 403;
      }
      const origin = `https://${ctx.target.host.includes(':') ? `[${ctx.target.host}]` : ctx.target.host}${ctx.target.port === 443 ? '' : `:${ctx.target.port}`}`;
      const at = (path: string): PageEvent => ({ ...ev, url: origin + (path.startsWith('/') ? path : '/') });
      if (gate) return overTls(socket, head, ctx.target.host, (path) => pages.aupRequired(at(path)));
      if (d.action === 'block') return overTls(socket, head, ctx.target.host, (path) => pages.block(at(path), d));
      return overTls(socket, head, ctx.target.host, (path) => pages.warn(at(path), d));
    },

    originForm() {
      return false;
    },
  };
}
