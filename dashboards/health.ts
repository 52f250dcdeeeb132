import { readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { collectMetrics } from '../core/metrics-http.ts';
import { metricValue, pipelineFacts, pipelineHealth, type HealthItem } from '../core/ops/pipeline-health.ts';
import { scanFacts, scanHealth } from '../core/ops/scan-health.ts';
import { untrustedCaDevices } from '../core/tls/untrusted-ca.ts';
import type { ConsoleDeps } from './deps.ts';

// What IT looks at when something seems wrong, gathered the way `fairwatch doctor` does: the proxy
// port answering, workers and dropped events from this process's metrics (the proxy's workers when
// `fairwatch start` runs it here), the stream backlog from Redis, the spool on disk, the age of the
// category lists, the supervised redis-server, virus scanning (clamd, its signatures, the scans'
// outcomes), and devices that refused the organisation CA.

export type { HealthItem, Level } from '../core/ops/pipeline-health.ts';
export { metricValue };

function probe(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Newest change under the list directory (epoch ms), or null when there are no lists. */
function listsChanged(dir: string): number | null {
  let newest: number | null = null;
  try {
    for (const cat of readdirSync(dir)) {
      const st = statSync(join(dir, cat));
      if (st.isDirectory()) newest = Math.max(newest ?? 0, st.mtimeMs);
    }
  } catch {
    return null;
  }
  return newest;
}

/** Entries not yet acknowledged by the slowest consumer group of the event stream (pending + unread). */
async function streamLag(deps: ConsoleDeps): Promise<number | null> {
  try {
    const raw = (await deps.redis.xinfo('GROUPS', deps.config.pipeline.stream)) as Array<Array<string | number | null>>;
    let worst = 0;
    for (const g of raw) {
      const o: Record<string, string | number | null> = {};
      for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1] ?? null;
      worst = Math.max(worst, Number(o.pending ?? 0) + Number(o.lag ?? 0));
    }
    return worst;
  } catch {
    return null; // no stream yet (nothing ingested) or Redis not answering
  }
}

const ago = (ms: number) => (ms < 3_600_000 ? `${Math.round(ms / 60_000)} minutes ago` : ms < 172_800_000 ? `${Math.round(ms / 3_600_000)} hours ago` : `${Math.round(ms / 86_400_000)} days ago`);

export async function gatherHealth(deps: ConsoleDeps): Promise<HealthItem[]> {
  const now = deps.now();
  const items: HealthItem[] = [];
  const { bind, port } = deps.config.proxy;
  const host = bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
  if (port === 0) items.push({ key: 'proxy', label: 'Proxy', level: 'unknown', value: 'port chosen at start (proxy.port 0): not probed' });
  else {
    const up = await probe(host, port);
    items.push({ key: 'proxy', label: 'Proxy', level: up ? 'ok' : 'bad', value: up ? `answering on ${host}:${port}` : `not answering on ${host}:${port}` });
  }
  const metrics = await collectMetrics().catch(() => '');
  const workers = metricValue(metrics, 'fairwatch_proxy_workers');
  items.push(workers && workers > 0
    ? { key: 'workers', label: 'Proxy workers', level: 'ok', value: `${workers} running` }
    : { key: 'workers', label: 'Proxy workers', level: 'unknown', value: 'the proxy does not run in the console\'s process: see Grafana or its /metrics' });
  const lag = await streamLag(deps);
  items.push(lag === null
    ? { key: 'lag', label: 'Stream backlog', level: 'unknown', value: `no consumer group on ${deps.config.pipeline.stream} yet` }
    : { key: 'lag', label: 'Stream backlog', level: lag > 1000 ? 'warn' : 'ok', value: `${lag} entr${lag === 1 ? 'y' : 'ies'} waiting for the ingester` });
  const changed = listsChanged(deps.blocklistsDir);
  items.push(changed === null
    ? { key: 'lists', label: 'Category lists', level: 'bad', value: `no lists in ${deps.blocklistsDir}` }
    : { key: 'lists', label: 'Category lists', level: now - changed > 14 * 86_400_000 ? 'warn' : 'ok', value: `updated ${ago(Math.max(0, now - changed))}` });
  // Redis and its memory, the spool, lost events, inserts and the disk, in words (core/ops/pipeline-health.ts)
  items.push(...pipelineHealth(await pipelineFacts({
    redis: deps.redis, dataDir: deps.dataDir, spoolMaxMB: deps.config.pipeline.spoolMaxMB, metricsText: metrics,
    managed: deps.managedRedis ?? null, now,
  })));
  // virus scanning: clamd, its signatures' age, the scans' outcomes (core/ops/scan-health.ts)
  items.push(...scanHealth(await scanFacts({
    scan: deps.config.scan, dataDir: deps.dataDir, metricsText: metrics,
    supervisor: deps.managedClamd?.() ?? null, now,
  })));
  const lacking = await untrustedCaDevices(deps.redis, now - 7 * 86_400_000).catch(() => []);
  items.push({ key: 'ca', label: 'Devices without the CA', level: lacking.length ? 'warn' : 'ok', value: lacking.length ? `${lacking.length} device(s) refused the organisation CA in the last 7 days` : 'none in the last 7 days' });
  return items;
}

/** The devices that refused the CA in the last 7 days (client pseudonyms only). */
export async function devicesWithoutCa(deps: ConsoleDeps) {
  return untrustedCaDevices(deps.redis, deps.now() - 7 * 86_400_000).catch(() => []);
}
