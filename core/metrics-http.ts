import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
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

// node:cluster workers (the proxy's) count in their own registries. The primary asks each worker
// for its metrics over the cluster IPC channel and serves the sum with its own, so one scrape per
// container sees every request whichever worker served it.
const REQ = 'fairwatch:metrics-req';
const RES = 'fairwatch:metrics-res';
type Json = MetricObjectWithValues<MetricValue<string>>[];
interface MetricsMessage { t: typeof REQ | typeof RES; id: number; metrics?: Json }

/** Call once in a cluster worker: answers the primary's requests for this worker's metrics. */
export function exposeMetricsToPrimary(): void {
  if (!cluster.isWorker) return;
  process.on('message', (m: MetricsMessage) => {
    if (m?.t !== REQ) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ t: RES, id: m.id, metrics } satisfies MetricsMessage),
      () => process.send?.({ t: RES, id: m.id, metrics: [] } satisfies MetricsMessage),
    );
  });
}

let nextId = 0;
const unanswered = () => gauge('fairwatch_metrics_workers_unanswered', 'cluster workers that did not answer the last scrape within 2 s');

/** This process's metrics plus, in a cluster primary, every worker's (summed), as exposition text. */
export async function collectMetrics(timeoutMs = 2000): Promise<string> {
  const workers = cluster.isPrimary ? Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected()) : [];
  if (workers.length === 0) return registry.metrics();
  const id = nextId++;
  const answers = await Promise.all(workers.map((w) => new Promise<Json | null>((resolve) => {
    const timer = setTimeout(() => { w!.off('message', on); resolve(null); }, timeoutMs);
    const on = (m: MetricsMessage) => {
      if (m?.t !== RES || m.id !== id) return;
      clearTimeout(timer);
      w!.off('message', on);
      resolve(m.metrics ?? []);
    };
    w!.on('message', on);
    w!.send({ t: REQ, id } satisfies MetricsMessage);
  })));
  unanswered().set(answers.filter((a) => a === null).length);
  const own = (await registry.getMetricsAsJSON()) as Json;
  return AggregatorRegistry.aggregate([own, ...answers.filter((a): a is Json => a !== null)]).metrics();
}

export function serveMetrics(opts: MetricsEndpointOptions): Promise<MetricsEndpoint> {
  if (!defaultsCollected) {
    // process CPU, memory, event-loop lag, open handles: the first things to look at when a role is slow
    collectDefaultMetrics({ register: registry, prefix: 'fairwatch_' });
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
      collectMetrics().then(
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
