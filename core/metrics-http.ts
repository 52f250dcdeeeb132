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

// The proxy's worker threads (and the process that runs them) count in their own registries. The
// role process asks its worker process, which asks each thread, over their message channels, and
// serves the sum with its own: one scrape per container sees every request whichever thread served
// it. A channel is a child process (send) or a worker thread / parentPort (postMessage).
const REQ = 'fairwatch:metrics-req';
const RES = 'fairwatch:metrics-res';
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];
interface MetricsMessage { t: typeof REQ | typeof RES; id: number; metrics?: MetricsJson }

export interface MetricsChannel {
  on(event: 'message', fn: (m: unknown) => void): unknown;
  off(event: 'message', fn: (m: unknown) => void): unknown;
}
type Post = (m: MetricsMessage) => void;

const postTo = (ch: MetricsChannel): Post => {
  const c = ch as { postMessage?: (m: unknown) => void; send?: (m: unknown) => void };
  return c.postMessage ? (m) => c.postMessage!(m) : (m) => { c.send?.(m); };
};

/** Answers the requests arriving on `ch` (this thread's or process's parent) with this side's metrics, sources included. */
export function exposeMetricsTo(ch: MetricsChannel): void {
  const post = postTo(ch);
  ch.on('message', (raw) => {
    const m = raw as MetricsMessage;
    if (m?.t !== REQ) return;
    gatherJson().then(
      (metrics) => post({ t: RES, id: m.id, metrics }),
      () => post({ t: RES, id: m.id, metrics: [] }),
    );
  });
}

const sources = new Set<MetricsChannel>();
let nextId = 0;
const unanswered = () => gauge('fairwatch_metrics_workers_unanswered', 'proxy worker threads and processes that did not answer the last scrape within 2 s');

/** Counts `ch` (a worker thread or child process that calls exposeMetricsTo) into every scrape; returns the undo. */
export function addMetricsSource(ch: MetricsChannel): () => void {
  sources.add(ch);
  return () => sources.delete(ch);
}

function ask(ch: MetricsChannel, timeoutMs: number): Promise<MetricsJson | null> {
  const id = nextId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => { ch.off('message', on); resolve(null); }, timeoutMs);
    const on = (raw: unknown) => {
      const m = raw as MetricsMessage;
      if (m?.t !== RES || m.id !== id) return;
      clearTimeout(timer);
      ch.off('message', on);
      resolve(m.metrics ?? []);
    };
    ch.on('message', on);
    try {
      postTo(ch)({ t: REQ, id });
    } catch {
      clearTimeout(timer);
      ch.off('message', on);
      resolve(null);
    }
  });
}

async function gatherJson(timeoutMs = 1500): Promise<MetricsJson> {
  if (sources.size === 0) return (await registry.getMetricsAsJSON()) as MetricsJson;
  const answers = await Promise.all([...sources].map((ch) => ask(ch, timeoutMs)));
  unanswered().set(answers.filter((a) => a === null).length);
  return (await AggregatorRegistry.aggregate([(await registry.getMetricsAsJSON()) as MetricsJson, ...answers.filter((a): a is MetricsJson => a !== null)]).getMetricsAsJSON()) as MetricsJson;
}

/** This process's metrics plus every worker thread's and worker process's (summed), as exposition text. */
export async function collectMetrics(timeoutMs = 2000): Promise<string> {
  if (sources.size === 0) return registry.metrics();
  const answers = await Promise.all([...sources].map((ch) => ask(ch, timeoutMs)));
  unanswered().set(answers.filter((a) => a === null).length);
  const own = (await registry.getMetricsAsJSON()) as MetricsJson;
  return AggregatorRegistry.aggregate([own, ...answers.filter((a): a is MetricsJson => a !== null)]).metrics();
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
