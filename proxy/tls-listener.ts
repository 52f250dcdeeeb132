import type { Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { counter } from '../core/metrics.ts';

// proxy.tlsPort: clients speak TLS to the proxy (an "HTTPS proxy"), then ordinary proxy requests
// and CONNECT inside it, so Basic credentials never cross the network in clear. Each connection is
// decrypted here and handed to the plain listener's HTTP server as a connection of its own, so every
// request, tunnel, upgrade, own page and event takes exactly the same handlers as on the plain port.
// The first byte decides: a TLS handshake record goes on; anything else (a browser set up with
// http:// for this port) gets a page naming the right setting. A handshake must finish within
// proxy.tlsHandshakeSeconds, counted from the connection (a slowloris on the handshake is cut).

const outcomes = counter('fairwatch_proxy_tls_connections_total', 'Connections to the proxy TLS listener (proxy.tlsPort), by outcome', ['outcome']);

const viaTls = new WeakSet<object>();

/** True for a connection (or a TLS connection opened inside one) that came through the TLS listener. */
export function cameThroughTlsListener(socket: object): boolean {
  return viaTls.has(socket);
}

/** Marks a socket opened inside one that came through the TLS listener (an inspected tunnel). */
export function inheritTlsListener(parent: object, child: object): void {
  if (viaTls.has(parent)) viaTls.add(child);
}

/** TLS record type of a handshake: the first byte of every ClientHello. */
const HANDSHAKE = 0x16;

export interface TlsListenerOptions {
  /** the certificate for a new connection */
  context: () => SecureContext;
  handshakeMs: number;
  /** plain bytes arrived: answer them (the socket is paused, `first` already read from it) */
  onPlain: (socket: Socket, first: Buffer) => void;
}

export interface TlsListener {
  server: NetServer;
  /** connections not yet handed to the HTTP server */
  pending: Set<Socket>;
}

export function createTlsListener(http: HttpServer, opts: TlsListenerOptions): TlsListener {
  const pending = new Set<Socket>();
  const server = createNetServer({ noDelay: true }, (raw) => {
    pending.add(raw);
    let tls: TLSSocket | null = null;
    const done = () => {
      clearTimeout(timer);
      pending.delete(raw);
    };
    raw.once('close', done);
    raw.on('error', () => raw.destroy());
    const timer = setTimeout(() => {
      outcomes.inc({ outcome: 'handshake-timeout' });
      tls?.destroy();
      raw.destroy();
    }, opts.handshakeMs);
    timer.unref();
    raw.once('data', (first: Buffer) => {
      raw.pause();
      if (first[0] !== HANDSHAKE) {
        done();
        outcomes.inc({ outcome: 'not-tls' });
        opts.onPlain(raw, first);
        return;
      }
      raw.unshift(first);
      let context: SecureContext;
      try {
        context = opts.context();
      } catch {
        // a renewal that failed: the connection cannot be served; the next start says why
        outcomes.inc({ outcome: 'no-certificate' });
        raw.destroy();
        return;
      }
      const secure = new TLSSocket(raw, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
      tls = secure;
      const failed = () => {
        outcomes.inc({ outcome: 'handshake-failed' });
        secure.destroy();
        raw.destroy();
      };
      secure.once('error', failed);
      secure.once('secure', () => {
        done();
        secure.off('error', failed);
        outcomes.inc({ outcome: 'secured' });
        viaTls.add(secure);
        // from here the HTTP server owns it: its parser, timeouts and handlers, as on the plain port
        http.emit('connection', secure);
      });
    });
  });
  return { server, pending };
}
