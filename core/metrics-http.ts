import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics } from 'prom-client';
import { gauge, registry } from './metrics.ts';

// The Prometheus endpoint of a role process: GET /metrics (the registry of core/metrics.ts, in the
// text exposition format) and GET /healthz (for container health checks). One per process: `start`
// serves all its roles on one port, a scaled deployment one port per container. Off unless
// `metrics.port` is set, so two local instances never fight over a port.

export interface MetricsEndpoint {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsEndpointOptions {
  bind: string;
  port: number;
  /** role names this process runs, exposed as fairwatch_role_info{role} */
  roles: string[];
  /** answers /healthz: false gives 503 (e.g. while stopping) */
  healthy?: () => boolean;
}

let defaultsCollected = false;

export function serveMetrics(opts: MetricsEndpointOptions): Promise<MetricsEndpoint> {
  if (!defaultsCollected) {
    // process CPU, memory, event-loop lag, open handles: the first things to look at when a role is slow
    collectDefaultMetrics({ register: registry, prefix: 'fairwatch_process_' });
    defaultsCollected = true;
  }
  const info = gauge('fairwatch_role_info', 'roles this process runs (value 1)', ['role']);
  for (const role of opts.roles) info.set({ role }, 1);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`),
      );
    } else if (path === '/healthz') {
      const ok = opts.healthy?.() ?? true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'stopping\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`metrics.port ${opts.port} on ${opts.bind}: cannot listen (${e.code ?? e.message})`)));
    server.listen(opts.port, opts.bind, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      const host = opts.bind.includes(':') ? `[${opts.bind}]` : opts.bind;
      resolve({
        url: `http://${host}:${port}/metrics`,
        port,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      });
    });
  });
}
