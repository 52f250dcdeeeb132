import { Agent, type ClientRequest, type ClientRequestArgs, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { ProxyCore } from './core.ts';
import { parseAbsoluteTarget } from './core.ts';
import { dial } from './dial.ts';
import type { EventBuilder } from './event-builder.ts';
import { responseFilename } from './filename.ts';
import { stripHopByHop, stripHopByHopOutgoing } from './hop-by-hop.ts';
import { RequestError, upstreamError } from './request-error.ts';
import { respondError } from './respond.ts';

// Plain HTTP in absolute-form (`GET http://host/path`): admit, identify, decide, check the
// destination, then stream both ways through http-proxy over a keep-alive pool whose every socket
// comes from `dial`.

/**
 * Longest a pooled origin connection waits for its next request. Below the idle timeouts origins
 * commonly use (Node 5 s, Apache 5 s, nginx 75 s), so the pool lets go first and rarely hands out a
 * connection the origin is closing at that moment.
 */
export const FREE_SOCKET_TIMEOUT_MS = 4000;

/** A keep-alive pool whose connections are opened by `dial` (to addresses the guard approved). */
export class DialAgent extends Agent {
  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    try {
      // not half-open: the origin's FIN on an idle connection closes it and takes it out of the pool
      const socket = dial(String(options.host ?? ''), Number(options.port), { halfOpen: false });
      socket.once('end', () => socket.destroy());
      return socket;
    } catch (e) {
      callback?.(e as Error, undefined as never);
      return undefined;
    }
  }

  /** Back in the pool: idle for at most FREE_SOCKET_TIMEOUT_MS (the agent destroys it on timeout). */
  override keepSocketAlive(socket: Socket): boolean {
    // Node returns whether the socket stays pooled; @types/node says void
    const keep = (super.keepSocketAlive as unknown as (s: Socket) => boolean).call(this, socket);
    if (keep && (socket.timeout === undefined || socket.timeout === 0 || socket.timeout > FREE_SOCKET_TIMEOUT_MS)) socket.setTimeout(FREE_SOCKET_TIMEOUT_MS);
    return keep;
  }
}

interface Pending {
  ev: EventBuilder;
  path: string;
  /** the last attempt went out on a pooled connection (not a fresh one) */
  reused: boolean;
  retried: boolean;
}

const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * An origin may close an idle connection just as the pool hands it out; the request then fails
 * with a reset before any response byte. Safe to send again once on a new connection when the
 * method is idempotent and there was no body (RFC 9110 §9.2.2, what browsers do too).
 */
function retryable(err: Error, req: IncomingMessage, p: Pending, res: ServerResponse): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return p.reused && !p.retried && !res.headersSent && (code === 'ECONNRESET' || code === 'EPIPE') &&
    RETRYABLE.has(req.method ?? '') && !req.headers['transfer-encoding'] && (req.headers['content-length'] ?? '0') === '0';
}

export class Forwarder {
  readonly proxy: httpProxy;
  readonly agent: DialAgent;
  private readonly pending = new WeakMap<IncomingMessage, Pending>();

  constructor(private readonly core: ProxyCore) {
    this.agent = new DialAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: core.idleTimeoutMs });
    this.proxy = httpProxy.createProxyServer({ xfwd: core.config.proxy.forwardedFor, changeOrigin: false, ws: true });
    this.proxy.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => {
      const p = this.pending.get(req);
      if (p) p.reused = proxyReq.reusedSocket;
      // stripped here, not on req.headers: http-proxy answers the client's Connection header itself
      stripHopByHopOutgoing(proxyReq);
      this.armTimeout(proxyReq);
    });
    this.proxy.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => {
      stripHopByHop(proxyRes.headers);
      const p = this.pending.get(req);
      if (!p) return;
      const type = String(proxyRes.headers['content-type'] ?? '');
      p.ev.contentType = type.split(';')[0]!.trim().toLowerCase().slice(0, 128);
      p.ev.filename = responseFilename(p.path, p.ev.contentType, proxyRes.headers['content-disposition']);
    });
  }

  /** Upstream timeout: no byte from the site for upstreamTimeoutSeconds → 504 (or a cut stream). */
  private armTimeout(proxyReq: ClientRequest): void {
    proxyReq.setTimeout(this.core.upstreamTimeoutMs, () => {
      proxyReq.destroy(new RequestError(504, 'FW_UPSTREAM_TIMEOUT', `the site sent nothing for ${this.core.config.proxy.upstreamTimeoutSeconds} s (proxy.upstreamTimeoutSeconds)`, 'upstream-timeout'));
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const core = this.core;
    const ev = core.beginEvent(req.socket, req.method ?? '');
    res.once('close', () => ev.end(res.headersSent ? res.statusCode : 499));
    try {
      core.admit(ev);
      const raw = req.url ?? '';
      if (raw.startsWith('/')) {
        if (await core.hooks.originForm(req, res)) {
          ev.action = 'allow';
          ev.rule = 'proxy-page';
          return;
        }
        throw new RequestError(400, 'FW_ORIGIN_FORM', 'This address is a web proxy, not a web site: set it as the HTTP proxy in the browser settings and browse as usual.', 'malformed');
      }
      const target = parseAbsoluteTarget(raw);
      core.setTarget(ev, target);
      const identity = await core.identify(ev, req.headers['proxy-authorization']);
      if (!identity && core.answerSignInHttp(ev, res, target)) return;
      if (!identity) throw new RequestError(407, 'FW_AUTH_REQUIRED', 'Sign in with your fairwatch user name and password to use the internet here.');
      const ctx = core.decide(ev, identity, target, req.method ?? 'GET');
      if (await core.hooks.http(ctx, req, res)) {
        if (ctx.eventAction) ev.action = ctx.eventAction;
        return;
      }
      const address = await core.destination(ev, target);
      if (res.destroyed) return;
      // RFC 9112 §3.2.2: the absolute URI's authority replaces any Host the client sent
      req.headers.host = new URL(target.url).host;
      req.url = target.path + (target.query ? `?${target.query}` : '');
      const pending: Pending = { ev, path: target.path, reused: false, retried: false };
      this.pending.set(req, pending);
      const send = () => this.proxy.web(req, res, {
        target: { protocol: 'http:', host: address, port: target.port } as never,
        agent: this.agent,
      }, (err: Error) => {
        if (retryable(err, req, pending, res)) {
          pending.retried = true;
          ev.flag('retried-stale-connection');
          send();
          return;
        }
        respondError(res, ev, upstreamError(err, target.url));
      });
      send();
    } catch (e) {
      respondError(res, ev, e);
    }
  }

  close(): void {
    this.agent.destroy();
    this.proxy.close();
  }
}
