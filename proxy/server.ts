import { createServer, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { handleClientError, refusePlainOnTlsPort } from './client-error.ts';
import { ProxyCore, type ProxyServerOptions } from './core.ts';
import { Forwarder } from './forward.ts';
import { upstreamCas } from './tls/inspect.ts';
import { handleConnect } from './tunnel.ts';
import { Upgrader } from './upgrade.ts';
import { createTlsListener, type TlsListener } from './tls-listener.ts';
import type { ListenerCertificate } from './tls/listener-cert.ts';

export type { ProxyServerOptions } from './core.ts';

// One proxy listener: the whole proxy in one thread. Worker threads run one each on the same port
// (threads.ts, reusePort); tests run one in the test process with a MemorySink.

export interface ProxyServer {
  readonly server: Server;
  readonly core: ProxyCore;
  /** reusePort: several threads' listeners share the port (SO_REUSEPORT; the kernel spreads connections) */
  listen(port?: number, host?: string, opts?: { reusePort?: boolean }): Promise<AddressInfo>;
  /** proxy.tlsPort: a second listener where clients speak TLS to the proxy, served by the same handlers */
  listenTls(cert: ListenerCertificate, port?: number, host?: string, opts?: { reusePort?: boolean }): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function createProxyServer(opts: ProxyServerOptions): ProxyServer {
  const core = new ProxyCore(opts);
  // inspected tunnels reach origins over TLS: the system's CAs, plus proxy.upstreamCaFile
  const forwarder = new Forwarder(core, upstreamCas(opts.config));
  const upgrader = new Upgrader(core);
  const cfg = opts.config.proxy;
  const server = createServer({
    maxHeaderSize: cfg.maxHeaderBytes,
    // uploads may take long; the idle timeout below is what ends a stalled client
    requestTimeout: 0,
    headersTimeout: 60_000,
    keepAliveTimeout: 30_000,
    noDelay: true,
    insecureHTTPParser: false,
  });
  server.timeout = core.idleTimeoutMs;
  server.on('request', (req, res) => void forwarder.handle(req, res));
  server.on('connect', (req, socket, head) => void handleConnect(core, forwarder, req, socket as Socket, head));
  server.on('upgrade', (req, socket, head) => void upgrader.handle(req, socket as Socket, head));
  server.on('clientError', (err, socket) => handleClientError(core, err, socket as Socket));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  let tls: TlsListener | null = null;
  const listenOn = (srv: NetServer, port: number, host: string, reusePort: boolean) => new Promise<AddressInfo>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    srv.once('error', onError);
    srv.listen({ port, host, reusePort }, () => {
      srv.off('error', onError);
      const addr = srv.address() as AddressInfo;
      core.listeningOn(addr.port);
      resolve(addr);
    });
  });
  return {
    server,
    core,
    listen(port = cfg.port, host = cfg.bind, listenOpts = {}) {
      return listenOn(server, port, host, listenOpts.reusePort ?? false);
    },
    listenTls(cert, port = cfg.tlsPort ?? 0, host = cfg.bind, listenOpts = {}) {
      tls ??= createTlsListener(server, {
        context: () => cert.context(),
        handshakeMs: cfg.tlsHandshakeSeconds * 1000,
        onPlain: (socket, first) => refusePlainOnTlsPort(core, socket, first),
      });
      return listenOn(tls.server, port, host, listenOpts.reusePort ?? false);
    },
    async close() {
      if (tls) {
        tls.server.close();
        for (const s of tls.pending) s.destroy();
      }
      // requests and tunnels in flight get a moment to finish, then are cut; either way each
      // emits its event before this resolves (a tunnel is no longer the HTTP server's to wait for)
      const cut = setTimeout(() => { for (const s of sockets) s.destroy(); }, 2000);
      cut.unref();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      for (let i = 0; i < 150 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      for (const s of sockets) s.destroy();
      clearTimeout(cut);
      // 'close' handlers (which end the events) run on the next turns
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      await forwarder.close();
    },
  };
}
