import type { Socket } from 'node:net';
import type { ProxyCore } from './core.ts';
import { errorPage, rawResponse } from './pages.ts';
import { reasonPhrase } from './respond.ts';

// Requests Node's parser refuses before any handler runs: oversized headers, Content-Length with
// Transfer-Encoding or twice (request smuggling), unknown methods, garbage. Each gets a clear status
// and an event; the connection closes, so nothing that followed on it is trusted.

interface ParseError extends Error {
  code?: string;
  rawPacket?: Buffer;
}

export function classifyParseError(err: ParseError): { status: number; message: string; flag: string } {
  const reason = (err as { reason?: string }).reason ?? err.message;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: 'The request headers are larger than the proxy accepts (proxy.maxHeaderBytes).', flag: 'header-too-large' };
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return { status: 400, message: `The request's length is ambiguous and was refused (${reason}).`, flag: 'smuggling' };
    case 'HPE_INVALID_METHOD':
      // a TLS handshake record: a client set up for an HTTPS proxy on the plain port
      if (err.rawPacket?.[0] === 0x16) {
        return { status: 400, message: 'This port of the proxy speaks plain HTTP, not TLS: an HTTPS proxy (https://) uses proxy.tlsPort.', flag: 'tls-on-plain-port' };
      }
      // an upper-case token followed by a target is a method we do not know; anything else is noise
      if (/^[A-Z][A-Z-]{0,19} \S+ HTTP\/1\.[01]\r?\n/.test(err.rawPacket?.toString('latin1') ?? '')) {
        return { status: 501, message: 'The request method is not one the proxy knows.', flag: 'malformed' };
      }
      return { status: 400, message: 'The request could not be understood (not HTTP).', flag: 'malformed' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'The request did not arrive in time.', flag: 'request-timeout' };
    default:
      return { status: 400, message: `The request could not be understood (${reason}).`, flag: 'malformed' };
  }
}

export function handleClientError(core: ProxyCore, err: ParseError, socket: Socket): void {
  // a connection reset or a client that went away before sending a request: nothing to answer
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !err.code?.startsWith('HPE_') && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.destroy();
    return;
  }
  // bytes after a request that said Connection: close are never parsed or forwarded; the answer to
  // that request still goes out, then the connection closes as asked
  if (err.code === 'HPE_CLOSED_CONNECTION') return;
  const method = /^([A-Za-z]{1,20}) /.exec(err.rawPacket?.toString('latin1') ?? '')?.[1] ?? '';
  const ev = core.beginEvent(socket, method.toUpperCase());
  const { status, message, flag } = classifyParseError(err);
  ev.flag(flag);
  ev.flag('malformed');
  ev.action = 'error';
  ev.rule = 'http-parser';
  if (socket.writable) socket.end(rawResponse(status, reasonPhrase(status), errorPage(status, message, ev.id)));
  else socket.destroy();
  if (socket.destroyed) ev.end(status);
  else socket.once('close', () => ev.end(status));
  setTimeout(() => socket.destroy(), 5000).unref();
}

/**
 * Plain bytes on the TLS listener (proxy.tlsPort): a client set up with http:// for that port. It
 * gets a page in plain HTTP naming the right setting, and an event; nothing it sent is parsed.
 */
export function refusePlainOnTlsPort(core: ProxyCore, socket: Socket, first: Buffer): void {
  const method = /^([A-Za-z]{1,20}) /.exec(first.toString('latin1'))?.[1] ?? '';
  const ev = core.beginEvent(socket, method.toUpperCase());
  ev.flag('not-tls');
  ev.flag('malformed');
  ev.action = 'error';
  ev.rule = 'proxy.tlsPort';
  const status = 400;
  const message = `This port of the proxy (proxy.tlsPort) speaks TLS: set the proxy as an HTTPS proxy (https://) for this port, or use the plain port ${core.config.proxy.port}.`;
  if (socket.writable) socket.end(rawResponse(status, reasonPhrase(status), errorPage(status, message, ev.id)));
  else socket.destroy();
  if (socket.destroyed) ev.end(status);
  else socket.once('close', () => ev.end(status));
  // whatever else it sends is never read
  setTimeout(() => socket.destroy(), 5000).unref();
}
