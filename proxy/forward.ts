import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { checkUpload, eventFilename } from '../core/policy/file-rules.ts';
import type { DecisionContext } from './response-hooks.ts';
import type { ProxyCore } from './core.ts';
import type { EventBuilder } from './event-builder.ts';
import { connectionTokens, isHopByHopHeader, outgoingRequestHeaders } from './hop-by-hop.ts';
import { admitHttp, contentTypeHidesFiles, responseFileRule, type Admitted } from './pipeline.ts';
import { RequestError, upstreamError } from './request-error.ts';
import { respondError } from './respond.ts';
import { releaseWhenWritten } from './read-buffers.ts';
import { Upstream, type UpstreamControl, type UpstreamHandler } from './upstream.ts';
import { DownloadScan, scansTotal, type ScanOutlet } from './download-scan.ts';
import type { Verdict } from './virus-scan.ts';

// Plain HTTP in absolute-form (`GET http://host/path`), and requests inside an inspected tunnel:
// the decision pipeline (pipeline.ts), then one request to the origin over the keep-alive pool
// (upstream.ts). The message is framed once, from what Node's parser read: a body of known length
// goes with that Content-Length, a chunked body as chunked, no body as none, and no header the
// client wrote can change that (hop-by-hop.ts).

const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

interface Exchange {
  ev: EventBuilder;
  req: IncomingMessage;
  res: ServerResponse;
  admitted: Admitted;
  tls: boolean;
  retried: boolean;
}

export class Forwarder {
  readonly upstream: Upstream;

  constructor(readonly core: ProxyCore, ca?: string[]) {
    this.upstream = new Upstream({ timeoutMs: core.upstreamTimeoutMs, ca });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ev = this.core.beginEvent(req.socket, req.method ?? '');
    res.once('close', () => ev.end(res.headersSent ? res.statusCode : 499));
    try {
      const admitted = await admitHttp(this.core, ev, req, res);
      if (!admitted || res.destroyed) return;
      this.send({ ev, req, res, admitted, tls: false, retried: false });
    } catch (e) {
      respondError(res, ev, e);
    }
  }

  /** A request already admitted by the caller (an inspected tunnel's), sent to the origin. */
  forwardAdmitted(ev: EventBuilder, req: IncomingMessage, res: ServerResponse, admitted: Admitted, tls: boolean): void {
    this.send({ ev, req, res, admitted, tls, retried: false });
  }

  private send(x: Exchange): void {
    const { ev, req, admitted } = x;
    const { target } = admitted;
    const bodyLength = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const framing = { contentLength: bodyLength !== undefined ? Number(bodyLength) : null };
    const hostHeader = target.port === (x.tls ? 443 : 80) ? hostForHeader(target.host) : `${hostForHeader(target.host)}:${target.port}`;
    const headers = outgoingRequestHeaders(req.rawHeaders, hostHeader, framing);
    if (this.core.config.proxy.forwardedFor) headers.push('x-forwarded-for', ev.clientIp);
    let body: Readable | null = null;
    if (chunked) body = this.countedBody(x);
    else if (framing.contentLength !== null && framing.contentLength > 0) body = req;
    else if (framing.contentLength === 0) body = null;
    this.upstream.send({
      address: admitted.address, port: target.port, tls: x.tls, method: req.method ?? 'GET',
      path: target.path + (target.query ? `?${target.query}` : ''), headers, body,
    }, new Relay(this, x, body));
  }

  /**
   * Whether a request that failed before any of its response went on may be sent once more: an
   * origin may close an idle pooled connection just as it is handed out (RFC 9110 §9.2.2).
   */
  mayRetry(x: Exchange, body: Readable | null, err: Error): boolean {
    const { req, res } = x;
    return !res.headersSent && !x.retried && body === null && RETRYABLE.has(req.method ?? '') && isStaleConnection(err) && !res.destroyed;
  }

  retry(x: Exchange): void {
    x.retried = true;
    x.ev.flag('retried-stale-connection');
    this.send(x);
  }

  /** The origin could not be reached or failed mid-way: the error page, or the cut connection. */
  failed(x: Exchange, err: Error): void {
    if (x.res.destroyed) return;
    const target = x.admitted.target;
    const e = err instanceof RequestError ? err : upstreamError(err, target.url);
    if (e.status === 502 && e.code === 'FW_UPSTREAM_UNREACHABLE') this.core.dialFailed(x.ev, target);
    respondError(x.res, x.ev, e);
  }

  /**
   * scan.enabled: a response the proxy may scan (a policy decision was taken for it, within
   * scan.maxMB by its declared length) goes through clamd; null when it passes unscanned.
   */
  startScan(x: Exchange, contentLength: string | string[] | undefined, outlet: ScanOutlet): DownloadScan | null {
    const scanner = this.core.scanner;
    if (!scanner || !x.admitted.ctx) return null;
    const declared = Number(first(contentLength));
    if (Number.isFinite(declared) && declared > scanner.maxBytes) {
      x.ev.flag('unscanned');
      scansTotal.inc({ outcome: 'unscanned' });
      return null;
    }
    if (declared === 0) return null;
    return new DownloadScan(scanner.client.scan(), outlet, { maxBytes: scanner.maxBytes, holdBytes: scanner.holdBytes, onError: scanner.onError });
  }

  /** An infected download (or one clamd could not check, under scan.onError: block). */
  refuseDownload(x: Exchange, v: Exclude<Verdict, { kind: 'clean' }>): void {
    const { ev, res, admitted } = x;
    ev.action = 'block';
    const ctx = admitted.ctx!;
    if (v.kind === 'infected') {
      ev.rule = 'virus';
      ev.flag(`virus:${v.signature}`);
      ctx.decision = { ...ctx.decision, action: 'block', rule: 'virus', signature: v.signature, reason: `The virus scanner found ${v.signature} in this file${ev.filename ? ` (${ev.filename})` : ''}. If you are sure the file is safe, report a false positive.` };
    } else {
      ev.rule = 'virus-scan-failed';
      ctx.decision = { ...ctx.decision, action: 'block', rule: 'virus-scan-failed', reason: 'The virus scanner could not check this file, and the organisation does not let unchecked files through (scan.onError: block). Try again in a few minutes.' };
    }
    // the headers went on already (a large file): cutting the connection leaves the browser an incomplete, failed download
    if (res.headersSent) res.destroy();
    else void this.core.hooks.http(ctx, x.req, res);
  }

  /** The software-download rule on the response; true when the block page was sent instead. */
  blockResponse(x: Exchange, seen: { path: string; contentType: string; disposition: string | undefined; firstBytes?: Buffer }): boolean {
    const ctx: DecisionContext | null = responseFileRule(this.core, x.ev, x.admitted.ctx, seen);
    if (!ctx) return false;
    void this.core.hooks.http(ctx, x.req, x.res);
    return true;
  }

  /** A chunked upload: its size is only known as it arrives, so it is counted on the way through. */
  private countedBody(x: Exchange): Readable {
    const policy = this.core.config.policy;
    let total = 0;
    let flagged = false;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        total += chunk.length;
        if (!flagged) {
          const up = checkUpload(policy, total);
          if (up.flagged) {
            flagged = true;
            x.ev.flag('large-upload');
            if (up.block) {
              x.ev.action = 'block';
              x.ev.rule = 'large-upload';
              callback(new RequestError(413, 'FW_MALFORMED', `Uploads over ${policy.largeUploadMB} MB are not allowed (policy.largeUploadMB).`, 'large-upload'));
              return;
            }
          }
        }
        callback(null, chunk);
      },
    });
    x.req.pipe(counter);
    return counter;
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

/**
 * One request's answer on its way from the origin to the browser: undici's callbacks as methods of
 * one object rather than a dozen closures made for every request. The response goes on as it comes,
 * or is held for a first look (an executable a site does not name), or goes through the virus scan.
 */
class Relay implements UpstreamHandler {
  private control: UpstreamControl | null = null;
  private held: { status: number; message: string; headers: OutgoingHttpHeaders } | null = null;
  private done = false;
  private scan: DownloadScan | null = null;

  constructor(private readonly f: Forwarder, private readonly x: Exchange, private readonly body: Readable | null) {
    x.res.once('close', this.clientGone);
  }

  private readonly clientGone = (): void => {
    if (!this.done) this.control?.abort(new Error('client went away'));
  };

  private readonly resumeOrigin = (): void => {
    this.control?.resume();
  };

  onStart(control: UpstreamControl): void {
    this.control = control;
  }

  onHeaders(status: number, upstreamHeaders: IncomingHttpHeaders, message: string): void {
    const { ev, req, res, admitted } = this.x;
    const path = admitted.target.path;
    res.on('drain', this.resumeOrigin);
    const out = responseHeaders(upstreamHeaders);
    const type = String(upstreamHeaders['content-type'] ?? '').split(';')[0]!.trim().toLowerCase().slice(0, 128);
    const disposition = first(upstreamHeaders['content-disposition']);
    ev.contentType = type;
    ev.filename = eventFilename(path, type, disposition);
    const hasBody = req.method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
    if (hasBody && status < 300 && this.f.core.scanner) this.startScan(status, message, out, upstreamHeaders['content-length']);
    if (hasBody && status < 300 && contentTypeHidesFiles(type) && admitted.ctx) {
      this.held = { status, message, headers: out };
      return;
    }
    if (hasBody && status < 300 && this.f.blockResponse(this.x, { path, contentType: type, disposition })) {
      this.stop();
      return;
    }
    if (!this.scan) this.pass(status, message, out);
  }

  onData(chunk: Buffer): void {
    if (this.done) return;
    const h = this.held;
    if (h) {
      this.held = null;
      if (this.f.blockResponse(this.x, { path: this.x.admitted.target.path, contentType: this.x.ev.contentType, disposition: first(h.headers['content-disposition'] as string | undefined), firstBytes: chunk })) {
        this.stop();
        return;
      }
      if (!this.scan) this.pass(h.status, h.message, h.headers);
    }
    if (this.scan) this.scan.data(chunk);
    // nothing here keeps a chunk once it has gone on, so its read buffer can be freed then
    else if (!this.x.res.write(chunk, releaseWhenWritten(chunk))) this.control?.pause();
  }

  onEnd(): void {
    if (this.done) return;
    const h = this.held;
    if (h) {
      this.held = null;
      if (!this.scan) this.pass(h.status, h.message, h.headers);
    }
    if (this.scan) {
      // the verdict decides whether the held part goes on (DownloadScan calls end or refuse)
      this.scan.end();
      return;
    }
    this.done = true;
    this.x.res.end();
  }

  onError(err: Error): void {
    if (this.done) return;
    if (!this.held && this.f.mayRetry(this.x, this.body, err)) {
      this.x.res.off('close', this.clientGone);
      this.scan?.abandon();
      this.f.retry(this.x);
      return;
    }
    this.done = true;
    this.scan?.abandon();
    this.f.failed(this.x, err);
  }

  private pass(status: number, message: string, out: OutgoingHttpHeaders): void {
    this.x.res.writeHead(status, message || undefined, out);
  }

  /** the response was refused (a block page went instead): nothing more of it goes anywhere */
  private stop(): void {
    this.done = true;
    this.scan?.abandon();
    this.control?.abort();
  }

  /** scan.enabled: the body goes through clamd before (and while) it goes on */
  private startScan(status: number, message: string, out: OutgoingHttpHeaders, contentLength: string | string[] | undefined): void {
    const { ev, res } = this.x;
    this.scan = this.f.startScan(this.x, contentLength, {
      head: () => this.pass(status, message, out),
      write: (chunk, written) => res.write(chunk, written),
      end: () => { this.done = true; res.end(); },
      pauseOrigin: () => this.control?.pause(),
      resumeOrigin: this.resumeOrigin,
      flag: (f) => ev.flag(f),
      refuse: (v) => {
        this.done = true;
        this.control?.abort();
        this.f.refuseDownload(this.x, v);
      },
    });
    if (this.scan) res.once('close', () => { if (!this.done) this.scan?.abandon(); });
  }
}

function hostForHeader(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The origin's response headers minus hop-by-hop ones and those its Connection header names. */
function responseHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(h.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in h) {
    if (isHopByHopHeader(name) || named.has(name)) continue;
    const v = h[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function isStaleConnection(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const cause = ((err as { cause?: NodeJS.ErrnoException }).cause?.code) ?? '';
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || cause === 'ECONNRESET' || cause === 'EPIPE';
}
