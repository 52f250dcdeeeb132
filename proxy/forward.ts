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
import { Upstream } from './upstream.ts';
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

  constructor(private readonly core: ProxyCore, ca?: string[]) {
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
    const { ev, req, res, admitted } = x;
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

    let abort: ((e?: Error) => void) | null = null;
    let held: { status: number; message: string; headers: OutgoingHttpHeaders } | null = null;
    let done = false;
    let pauseUpstream: (() => void) | null = null;
    const onClientGone = () => {
      if (!done) abort?.(new Error('client went away'));
    };
    res.once('close', onClientGone);

    const pass = (status: number, message: string, out: OutgoingHttpHeaders) => {
      res.writeHead(status, message || undefined, out);
    };
    let scan: DownloadScan | null = null;
    /** the body to the browser: straight, or through the virus scan */
    const forward = (chunk: Buffer) => {
      if (scan) scan.data(chunk);
      // nothing here keeps a chunk once it has gone on, so its read buffer can be freed then
      else if (!res.write(chunk, releaseWhenWritten(chunk))) pauseUpstream?.();
    };

    this.upstream.send({
      address: admitted.address, port: target.port, tls: x.tls, method: req.method ?? 'GET',
      path: target.path + (target.query ? `?${target.query}` : ''), headers, body,
    }, {
      onStart: (a) => { abort = a; },
      onHeaders: (status, upstreamHeaders, message, pause, resume) => {
        pauseUpstream = pause;
        res.on('drain', resume);
        const out = responseHeaders(upstreamHeaders);
        const type = String(upstreamHeaders['content-type'] ?? '').split(';')[0]!.trim().toLowerCase().slice(0, 128);
        const disposition = first(upstreamHeaders['content-disposition']);
        ev.contentType = type;
        ev.filename = eventFilename(target.path, type, disposition);
        const hasBody = req.method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
        if (hasBody && status < 300) {
          scan = this.startScan(x, upstreamHeaders['content-length'], {
            head: () => pass(status, message, out),
            write: (chunk, written) => res.write(chunk, written),
            end: () => { done = true; res.end(); },
            pauseOrigin: pause,
            resumeOrigin: resume,
            flag: (f) => ev.flag(f),
            refuse: (v) => {
              done = true;
              abort?.();
              this.refuseDownload(x, v);
            },
          });
          if (scan) res.once('close', () => { if (!done) scan?.abandon(); });
        }
        if (hasBody && status < 300 && contentTypeHidesFiles(type) && admitted.ctx) {
          held = { status, message, headers: out };
          return;
        }
        if (hasBody && status < 300 && this.blockResponse(x, { path: target.path, contentType: type, disposition })) {
          done = true;
          scan?.abandon();
          abort?.();
          return;
        }
        if (!scan) pass(status, message, out);
      },
      onData: (chunk) => {
        if (done) return;
        if (held) {
          const h = held;
          held = null;
          if (this.blockResponse(x, { path: target.path, contentType: ev.contentType, disposition: first(h.headers['content-disposition'] as string | undefined), firstBytes: chunk })) {
            done = true;
            scan?.abandon();
            abort?.();
            return;
          }
          if (!scan) pass(h.status, h.message, h.headers);
        }
        forward(chunk);
      },
      onEnd: () => {
        if (done) return;
        if (held) {
          const h = held;
          held = null;
          if (!scan) pass(h.status, h.message, h.headers);
        }
        if (scan) {
          // the verdict decides whether the held part goes on (DownloadScan calls end or refuse)
          scan.end();
          return;
        }
        done = true;
        res.end();
      },
      onError: (err) => {
        if (done) return;
        if (!res.headersSent && !held && !x.retried && body === null && RETRYABLE.has(req.method ?? '') && isStaleConnection(err) && !res.destroyed) {
          // an origin may close an idle pooled connection just as it is handed out (RFC 9110 §9.2.2)
          x.retried = true;
          ev.flag('retried-stale-connection');
          res.off('close', onClientGone);
          scan?.abandon();
          this.send(x);
          return;
        }
        done = true;
        scan?.abandon();
        if (res.destroyed) return;
        const e = err instanceof RequestError ? err : upstreamError(err, target.url);
        if (e.status === 502 && e.code === 'FW_UPSTREAM_UNREACHABLE') this.core.dialFailed(ev, target);
        respondError(res, ev, e);
      },
    });
  }

  /**
   * scan.enabled: a response the proxy may scan (a policy decision was taken for it, within
   * scan.maxMB by its declared length) goes through clamd; null when it passes unscanned.
   */
  private startScan(x: Exchange, contentLength: string | string[] | undefined, outlet: ScanOutlet): DownloadScan | null {
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
  private refuseDownload(x: Exchange, v: Exclude<Verdict, { kind: 'clean' }>): void {
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
  private blockResponse(x: Exchange, seen: { path: string; contentType: string; disposition: string | undefined; firstBytes?: Buffer }): boolean {
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
