import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { connect as tlsConnect, rootCertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import { dial } from './dial.ts';
import { releaseWhatIsWritten } from './read-buffers.ts';

// The connection pool to origins. Every socket comes from `dial`, to an address the destination
// guard approved, so the pool never resolves a name itself. Pools are keyed by address and port
// (the Host header carries the name), kept alive, and let go of idle connections before origins
// commonly close theirs (Node and Apache after 5 s), so a request rarely meets a closing socket.
// A request body's chunks are freed as soon as they are written (read-buffers.ts).

export const FREE_SOCKET_TIMEOUT_MS = 4000;

export interface UpstreamOptions {
  /** no response headers, or no body byte, for this long: the request fails with a timeout */
  timeoutMs: number;
  /** extra certificate authorities trusted for origins reached over TLS (inspected tunnels) */
  ca?: string[];
}

export interface UpstreamRequest {
  /** the guard-approved IP address */
  address: string;
  port: number;
  tls: boolean;
  method: string;
  path: string;
  headers: string[];
  body: Readable | null;
}

/** What the caller may do to a request under way. */
export interface UpstreamControl {
  abort(reason?: Error): void;
  /** stop and go on reading the response body (backpressure from the client) */
  pause(): void;
  resume(): void;
}

export interface UpstreamHandler {
  onStart(control: UpstreamControl): void;
  onHeaders(status: number, headers: IncomingHttpHeaders, statusMessage: string): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

/** undici's handler for one request, which is also its control: one object, no closures per request. */
class Dispatch implements Dispatcher.DispatchHandler, UpstreamControl {
  private controller: Dispatcher.DispatchController | null = null;

  constructor(private readonly h: UpstreamHandler) {}

  abort(reason?: Error): void {
    this.controller?.abort(reason ?? new Error('aborted'));
  }

  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    this.h.onStart(this);
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.h.onHeaders(status, headers, statusMessage ?? '');
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.h.onData(chunk);
  }

  onResponseEnd(): void {
    this.h.onEnd();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.h.onError(err);
  }
}

function bare(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

export class Upstream {
  private readonly agent: Agent;

  constructor(private readonly opts: UpstreamOptions) {
    this.agent = new Agent({
      keepAliveTimeout: FREE_SOCKET_TIMEOUT_MS,
      keepAliveMaxTimeout: FREE_SOCKET_TIMEOUT_MS,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connectTimeout: opts.timeoutMs,
      // the request line and headers are ours to frame; a body streams as the client sends it
      pipelining: 1,
      connect: (o, callback) => {
        try {
          const address = bare(String(o.hostname));
          const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
          const raw = dial(address, port, { halfOpen: false });
          if (o.protocol !== 'https:') {
            releaseWhatIsWritten(raw);
            raw.once('connect', () => callback(null, raw));
            raw.once('error', (e) => callback(e, null));
            return;
          }
          const servername = (o as { servername?: string }).servername;
          // an IP-literal Host gives no SNI: the certificate is then checked against the address
          // dialled, which is that same literal (a name always comes with its servername)
          const secure = tlsConnect({ socket: raw, servername, host: address, ca: this.opts.ca?.length ? [...rootCertificates, ...this.opts.ca] : undefined, ALPNProtocols: ['http/1.1'] });
          releaseWhatIsWritten(secure);
          secure.once('secureConnect', () => callback(null, secure));
          secure.once('error', (e) => callback(e, null));
        } catch (e) {
          callback(e as Error, null);
        }
      },
    });
  }

  /** Sends one request; the handler hears of it until onEnd or onError (exactly one of them). */
  send(r: UpstreamRequest, h: UpstreamHandler): void {
    const host = r.address.includes(':') ? `[${r.address}]` : r.address;
    const origin = `${r.tls ? 'https' : 'http'}://${host}:${r.port}`;
    this.agent.dispatch({
      origin, path: r.path, method: r.method, headers: r.headers, body: r.body,
      // only idempotent requests without a body are ever sent again (RFC 9110 §9.2.2)
      idempotent: r.body === null && (r.method === 'GET' || r.method === 'HEAD' || r.method === 'OPTIONS'),
      // TLS: the name for SNI and the certificate check comes from the Host header
    } as Dispatcher.DispatchOptions, new Dispatch(h));
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}

