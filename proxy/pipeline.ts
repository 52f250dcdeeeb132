import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { checkDownload, checkUpload, groupMayDownloadSoftware, isSoftware, looksLikeWindowsExecutable, softwareDecision } from '../core/policy/file-rules.ts';
import type { DecisionContext } from './response-hooks.ts';
import type { ProxyCore, Target } from './core.ts';
import { parseAbsoluteTarget } from './core.ts';
import type { EventBuilder } from './event-builder.ts';
import type { Identity } from './identify.ts';
import { answerOwnPage, RESERVED_HOST } from './own-pages.ts';
import { RequestError } from './request-error.ts';
import { endWhenClosed } from './respond.ts';

// The decision pipeline for live traffic, in the order every request and tunnel takes it:
//
//   admit          proxy.clientNetworks                          → 403 denied-client
//   proxy pages    http://fairwatch.internal/ and the proxy's own address: answered here
//   own pages      the console's address: no gate, no sign-in, no policy (a browser with manual
//                  proxy settings and no bypass list must reach the statement it is asked to accept)
//   identify       Basic, identity.ipUsers, a sign-in binding, guest networks → 407 or sign-in page
//   ports          CONNECT to proxy.connectPorts only                           → 403
//   bare IP        a CONNECT or http:// URL to an IP address (however written) follows
//                  proxy.ipTunnels: refuse (default), allow, or CIDRs            → 403 ip-tunnel
//   gate + engine  acceptable-use statement, then the policy (lists, rules, exceptions, warn,
//                  quota) → AUP redirect, block or warn page (staff hooks render them)
//   request files  software by URL extension, upload size (policy.largeUploadMB)  → block page / 413
//   quota use      a minute of use counted for a quota category, across every worker and process
//   destination    resolve (search engines to their enforced safe-search hosts under
//                  policy.safeSearch), then the guard on every address (no private, loopback or self)
//   inspect?       an allowed CONNECT only (inspectTunnel): opened with the organisation CA when
//                  policy.inspect names its host or a category, policy.neverInspect (and the health
//                  list) does not, and the device has not refused the CA lately; else spliced
//   inside         each request in an opened tunnel (admitInspected): engine again on the full URL,
//                  request files, quota use, to the address the tunnel was admitted to
//   client hello   a spliced tunnel to a TLS port (proxy.tlsPorts, tunnel.ts): its first bytes must
//                  be TLS whose server name belongs to the CONNECT host's site and is not blocked
//
// Then the path forwards (forward.ts), splices (tunnel.ts), opens the tunnel (tls/inspect.ts) or
// upgrades (upgrade.ts). On the way back, responseFileRule() applies the software-download rule to
// what the site actually sent, over HTTP and inside opened tunnels alike. Every step sets the
// event's action, rule and flags; every request inside an opened tunnel has its own event.

export interface Admitted {
  target: Target;
  identity: Identity | null;
  /** the address to dial, approved by the guard */
  address: string;
  /** the decision context (null for fairwatch's own pages) */
  ctx: DecisionContext | null;
}

/** Plain HTTP: the steps up to the destination; null when the request was answered here. */
export async function admitHttp(core: ProxyCore, ev: EventBuilder, req: IncomingMessage, res: ServerResponse): Promise<Admitted | null> {
  core.admit(ev);
  const raw = req.url ?? '';
  if (raw.startsWith('/')) {
    if (await core.hooks.originForm(req, res) || answerOwnPage(core.ownPages, req, res, raw.split('?')[0]!)) {
      ev.action = 'allow';
      ev.rule = 'proxy-page';
      return null;
    }
    throw new RequestError(400, 'FW_ORIGIN_FORM', 'This address is a web proxy, not a web site: set it as the HTTP proxy in the browser settings and browse as usual.', 'malformed');
  }
  const target = parseAbsoluteTarget(raw);
  core.setTarget(ev, target);
  requireKnownFraming(req);
  if (target.host === RESERVED_HOST && target.port === 80) {
    // the proxy's own pages (as Squid answers its internal URLs): never forwarded
    ev.action = 'allow';
    ev.rule = 'proxy-page';
    if (answerOwnPage(core.ownPages, req, res, target.path)) return null;
    throw new RequestError(404, 'FW_BAD_URI', `The proxy has no page ${target.path.slice(0, 200)}: see http://${RESERVED_HOST}/`, 'not-found');
  }
  if (core.isOwnPage(target, req.socket.localAddress)) {
    ev.action = 'allow';
    ev.rule = 'fairwatch-page';
    return { target, identity: null, address: await core.ownAddress(target), ctx: null };
  }
  const identifying = core.identify(ev, req.headers['proxy-authorization']);
  const identity = identifying instanceof Promise ? await identifying : identifying;
  if (!identity && core.answerSignInHttp(ev, res, target)) return null;
  if (!identity) throw new RequestError(407, 'FW_AUTH_REQUIRED', 'Sign in with your fairwatch user name and password to use the internet here.');
  core.checkIpLiteral(ev, target, req.socket.localAddress);
  const ctx = await decideRequest(core, ev, identity, target, req, res);
  if (!ctx) return null;
  const address = await core.destination(ev, target);
  return { target, identity, address, ctx };
}

/** Gate and engine, then the request file rules, then quota use; null when a page was answered. */
async function decideRequest(core: ProxyCore, ev: EventBuilder, identity: Identity, target: Target, req: IncomingMessage, res: ServerResponse): Promise<DecisionContext | null> {
  const ctx = core.decide(ev, identity, target, req.method ?? 'GET');
  // the hooks answer an allowed request at once (no page to show): nothing to wait for then
  const answered = core.hooks.http(ctx, req, res);
  if (answered === true || (answered !== false && await answered)) {
    if (ctx.eventAction) ev.action = ctx.eventAction;
    return null;
  }
  if (requestFileRule(core, ev, ctx, req)) {
    await core.hooks.http(ctx, req, res);
    return null;
  }
  core.countUse(ev, ctx);
  return ctx;
}

/** CONNECT and WebSocket upgrades after identification: ports, gate and engine, quota, destination. */
export async function admitSocket(core: ProxyCore, ev: EventBuilder, identity: Identity, target: Target, method: string, req: IncomingMessage, client: Socket, head: Buffer): Promise<{ address: string; ctx: DecisionContext } | null> {
  const ctx = core.decide(ev, identity, target, method);
  const answered = await core.hooks.connect(ctx, req, client, head);
  if (answered !== null) {
    if (ctx.eventAction) ev.action = ctx.eventAction;
    endWhenClosed(client, ev, answered);
    return null;
  }
  core.countUse(ev, ctx);
  const address = await core.destination(ev, target);
  if (client.destroyed) {
    ev.end(499);
    return null;
  }
  return { address, ctx };
}

/**
 * An allowed tunnel: true when it is to be opened (inspected) rather than spliced untouched. Flags
 * the tunnel's event with why not when inspection was wanted or ruled out by neverInspect.
 */
export async function inspectTunnel(core: ProxyCore, ev: EventBuilder, ctx: DecisionContext): Promise<boolean> {
  const inspection = core.inspection;
  if (!inspection || ctx.target.scheme !== 'https') return false;
  const verdict = inspection.rules.verdict(ctx.target.host, core.categoriesOf(ctx.target.host, ctx.decision.category));
  if (!verdict.inspect) {
    if (verdict.why !== 'not in policy.inspect') ev.flag('never-inspect');
    return false;
  }
  if (await inspection.untrusted.spliced(ev.clientIp)) {
    ev.flag('ca-untrusted');
    return false;
  }
  ev.flag('inspected');
  return true;
}

/** What an opened tunnel was admitted for: its requests go to this host and address only. */
export interface OpenedTunnel {
  target: Target;
  identity: Identity;
  address: string;
}

/**
 * A request inside an opened tunnel. Admission, identity, the acceptable-use gate and the guard
 * were settled for the tunnel; the engine runs again on the full URL (URL list entries and
 * expressions apply), then the request-side file rules and quota use, as for plain HTTP.
 */
export async function admitInspected(core: ProxyCore, ev: EventBuilder, tunnel: OpenedTunnel, req: IncomingMessage, res: ServerResponse): Promise<Admitted | null> {
  const t = tunnel.target;
  const authority = `${t.host.includes(':') ? `[${t.host}]` : t.host}${t.port === 443 ? '' : `:${t.port}`}`;
  const raw = req.url ?? '/';
  if (!raw.startsWith('/')) throw new RequestError(400, 'FW_BAD_URI', `inside a secure connection to ${authority} only paths are accepted, got "${raw.slice(0, 200)}"`, 'malformed');
  // the path is read against the tunnel's own origin, so "//other.host/x" stays a path on this host
  const url = new URL(`https://${authority}${raw}`);
  const target: Target = { scheme: 'https', host: t.host, port: t.port, path: url.pathname || '/', query: url.search.replace(/^\?/, ''), url: `https://${authority}${url.pathname}` };
  core.setTarget(ev, target);
  ev.identity = tunnel.identity;
  requireKnownFraming(req);
  const named = hostOf(req.headers.host);
  if (named !== null && named !== t.host) {
    throw new RequestError(421, 'FW_MALFORMED', `this secure connection was opened for ${t.host}, not for ${named.slice(0, 200)}`, 'misdirected');
  }
  const ctx = await decideRequest(core, ev, tunnel.identity, target, req, res);
  if (!ctx) return null;
  return { target, identity: tunnel.identity, address: tunnel.address, ctx };
}

/** The host of a Host header, lower case, without port or brackets; null when absent. */
function hostOf(header: string | undefined): string | null {
  if (!header) return null;
  try {
    return new URL(`https://${header}/`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return header.toLowerCase();
  }
}

/**
 * Transfer codings other than chunked cannot be framed by this proxy (Squid answers the same):
 * refusing them keeps what the proxy parsed and what the origin parses one and the same message.
 */
function requireKnownFraming(req: IncomingMessage): void {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    throw new RequestError(501, 'FW_MALFORMED', `Transfer-Encoding "${te.slice(0, 60)}" is not supported by the proxy (only chunked).`, 'malformed');
  }
}

/**
 * Request-side file rules: an installer named in the URL (before any byte is fetched) and an upload
 * over policy.largeUploadMB by its declared length. True when the decision became a block (the
 * caller shows the page); a large upload that is only flagged goes on.
 */
function requestFileRule(core: ProxyCore, ev: EventBuilder, ctx: DecisionContext, req: IncomingMessage): boolean {
  const policy = core.config.policy;
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > 0) {
    const up = checkUpload(policy, length);
    if (up.flagged) ev.flag('large-upload');
    if (up.block) {
      blockWith(ev, ctx, { action: 'block', category: ctx.decision.category, rule: 'large-upload', reason: `Uploads over ${policy.largeUploadMB} MB are not allowed (policy.largeUploadMB).` });
      return true;
    }
  }
  if (isSoftware(policy, { path: ctx.target.path })) {
    ev.flag('executable');
    const d = checkDownload(policy, ctx.identity.group, { path: ctx.target.path });
    if (d) {
      blockWith(ev, ctx, { ...d, category: ctx.decision.category });
      return true;
    }
  }
  return false;
}

/**
 * Response-side: the software-download rule on what the site sent (Content-Type,
 * Content-Disposition, the path's extension, an `MZ` executable header). Returns a block decision
 * context to render, or null to pass the response on. Flags executables either way.
 */
export function responseFileRule(core: ProxyCore, ev: EventBuilder, ctx: DecisionContext | null, res: { path: string; contentType: string; disposition: string | undefined; firstBytes?: Buffer }): DecisionContext | null {
  if (!ctx) return null;
  const policy = core.config.policy;
  const software = isSoftware(policy, { path: res.path, contentType: res.contentType, contentDisposition: res.disposition ?? null }) ||
    (res.firstBytes !== undefined && looksLikeWindowsExecutable(res.firstBytes));
  if (!software) return null;
  ev.flag('executable');
  if (groupMayDownloadSoftware(policy, ctx.identity.group)) return null;
  blockWith(ev, ctx, { ...softwareDecision(policy), category: ctx.decision.category });
  return ctx;
}

/** Types a site may use for an executable without naming it: the first bytes are looked at for these. */
export function contentTypeHidesFiles(contentType: string): boolean {
  return contentType === '' || contentType === 'application/octet-stream' || contentType === 'binary/octet-stream' ||
    contentType === 'application/x-download' || contentType === 'application/force-download';
}

function blockWith(ev: EventBuilder, ctx: DecisionContext, d: DecisionContext['decision']): void {
  ctx.decision = { ...ctx.decision, ...d };
  ev.action = 'block';
  ev.rule = d.rule;
}
