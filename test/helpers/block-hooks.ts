import { shortBlockPage } from '../../core/pages/short.ts';
import { rawResponse } from '../../proxy/pages.ts';
import type { ResponseHooks } from '../../proxy/response-hooks.ts';

/**
 * Answers for tests of the request paths that need no Redis: a block gets the proxy's short block
 * page (the one it gives a blocked CONNECT without an organisation CA), everything else is
 * forwarded. The staff pages themselves (block, warn, acceptable use) are tested through
 * proxy/tls/staff-hooks.ts in test/pages/.
 */
export const blockOnlyHooks: ResponseHooks = {
  http(ctx, _req, res) {
    if (ctx.decision.action !== 'block') return false;
    const body = shortBlockPage(ctx.target.host, ctx.decision.reason, ctx.eventId);
    res.writeHead(403, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(body);
    return true;
  },
  connect(ctx, _req, socket) {
    if (ctx.decision.action !== 'block') return null;
    socket.end(rawResponse(403, 'Forbidden', shortBlockPage(ctx.target.host, ctx.decision.reason, ctx.eventId)));
    return 403;
  },
  originForm() {
    return false;
  },
};
