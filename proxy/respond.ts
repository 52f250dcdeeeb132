import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EventBuilder } from './event-builder.ts';
import { errorPage, rawResponse } from './pages.ts';
import { RequestError } from './request-error.ts';

// The one place a failure becomes a response: status, page, event flag.

const REASONS: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 407: 'Proxy Authentication Required', 408: 'Request Timeout', 413: 'Content Too Large',
  431: 'Request Header Fields Too Large', 499: 'Client Closed Request', 501: 'Not Implemented', 502: 'Bad Gateway', 504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

export const PROXY_AUTHENTICATE = { 'Proxy-Authenticate': 'Basic realm="fairwatch"' };

function asRequestError(e: unknown): RequestError {
  if (e instanceof RequestError) return e;
  return new RequestError(502, 'FW_UPSTREAM_UNREACHABLE', `internal proxy error: ${(e as Error)?.message ?? String(e)}`, 'proxy-error');
}

/** Answers a plain HTTP request with the error's status and page, then ends its event. */
export function respondError(res: ServerResponse, ev: EventBuilder, e: unknown): void {
  const err = asRequestError(e);
  ev.flag(err.flag);
  if (res.headersSent) {
    // the body had started: cutting the connection is the only honest signal left
    res.destroy();
    return;
  }
  const body = errorPage(err.status, err.message, ev.id);
  const headers: Record<string, string | number> = { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' };
  if (err.status === 407) Object.assign(headers, PROXY_AUTHENTICATE);
  if (err.status >= 400 && err.status !== 407 && err.status !== 403) headers.Connection = 'close';
  res.writeHead(err.status, headers);
  res.end(body);
  // the event ends on the response's 'close' (forward.ts), once the page has been written
}

/** The same on a raw socket (CONNECT, upgrades): the connection closes after the page. */
export function respondErrorRaw(socket: Duplex, ev: EventBuilder, e: unknown): void {
  const err = asRequestError(e);
  ev.flag(err.flag);
  const body = errorPage(err.status, err.message, ev.id);
  if (socket.writable) socket.end(rawResponse(err.status, reasonPhrase(err.status), body, err.status === 407 ? PROXY_AUTHENTICATE : {}));
  else socket.destroy();
  endWhenClosed(socket, ev, err.status);
}

/** Ends the event once the socket is gone, so its bytes include the response. */
export function endWhenClosed(socket: Duplex, ev: EventBuilder, status: number): void {
  if (socket.destroyed) ev.end(status);
  else socket.once('close', () => ev.end(status));
  // a client that never reads the page must not keep the socket forever
  const timer = setTimeout(() => socket.destroy(), 10_000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
