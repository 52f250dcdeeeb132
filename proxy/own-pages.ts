import type { IncomingMessage, ServerResponse } from 'node:http';
import { pageHeaders } from '../core/pages/index.ts';
import { proxyHomePage } from '../core/pages/proxy-home.ts';
import { siteFromConfig } from '../core/pages/site.ts';
import type { Config } from '../core/config/schema.ts';

// The proxy's own pages: the reserved host name (through the proxy) and the proxy's own address
// (a browser pointed at it as a web site). Answered here, never forwarded; no policy, no sign-in.

export const RESERVED_HOST = 'fairwatch.internal';

export interface OwnPagesOptions {
  config: Config;
  consoleUrl: (proxyAddress?: string) => string;
  /** the organisation CA's certificate (PEM), offered for download; null without a CA */
  caCertPem: string | null;
}

/** Answers `path`; false when it is not one of the proxy's pages. */
export function answerOwnPage(opts: OwnPagesOptions, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path === '/ca.crt' && opts.caCertPem) {
    res.writeHead(200, { 'Content-Type': 'application/x-x509-ca-cert', 'Content-Disposition': 'attachment; filename="fairwatch-ca.crt"', 'Content-Length': Buffer.byteLength(opts.caCertPem), 'Cache-Control': 'no-store' });
    res.end(opts.caCertPem);
    return true;
  }
  if (path === '/') {
    const page = proxyHomePage(siteFromConfig(opts.config, opts.consoleUrl(req.socket.localAddress)), opts.caCertPem !== null);
    res.writeHead(page.status, pageHeaders(page));
    res.end(page.html);
    return true;
  }
  return false;
}
