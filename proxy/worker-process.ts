import { createServer } from 'node:net';
import type { Config } from '../core/config/schema.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { exposeMetricsTo } from '../core/metrics-http.ts';
import { giveBackWhenIdle } from './idle-memory.ts';
import { PolicyHolder } from '../core/policy/holder.ts';
import { loadListsInThread } from '../core/policy/lists-thread.ts';
import { connectRedis } from '../core/storage/redis.ts';
import { caPresent } from '../core/tls/ca-paths.ts';
import type { CredentialRecord } from './credentials.ts';
import { ProxyThreads } from './threads.ts';
import { sharePolicy } from './shared-policy.ts';
import type { ServeInit, ThreadMessage } from './worker.ts';

// The proxy's worker process, forked by the proxy role (cluster.ts). It compiles the lists once
// (into shared memory), runs the worker threads that serve the proxy port, reloads the policy when
// the lists or config change (or on CHANNELS.policyReload) and hands each new one to every thread.
// It stays apart from the role process so the workers' memory is not the embedded ClickHouse's.

export interface WorkerInit extends ServeInit {
  threads: number;
}

export type PrimaryMessage = WorkerInit | { t: 'users'; records: CredentialRecord[] } | { t: 'stop' };
/** The worker process answers as each of its threads does. */
export type WorkerMessage = ThreadMessage;

const send = (m: WorkerMessage) => process.send?.(m);

/** Longest the worker process's own shutdown may take (the role process kills it a little later). */
const STOP_MS = 4500;

async function start(init: WorkerInit): Promise<void> {
  const { config, runtime } = init;
  const log = createLogger('proxy-worker');
  // the threads' counters (and this process's) are summed into the role process's /metrics
  exposeMetricsTo(process);
  // a list reload's grown heap goes back once this thread is quiet again
  giveBackWhenIdle();
  // the threads share one listening port (SO_REUSEPORT), which would also let a second fairwatch
  // join it: a plain bind first says whether anything else holds the port
  if (init.port !== 0) await portFree(init.port, init.bind);
  if (init.tlsPort) await portFree(init.tlsPort, init.bind);
  const redis = connectRedis(init.redisUrl, log);
  // A list directory that cannot be read must not stop browsing: allow, record, and say why.
  let holder: PolicyHolder | null = null;
  try {
    holder = await PolicyHolder.open({ config, runtime, log, loadLists: loadListsInThread });
    await holder.watch({ redis, signals: false });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'policy not loaded: allowing everything until it loads (fix the lists, then reload)');
  }
  logInspection(log, config, caPresent(runtime.dataDir), holder ? (c) => holder.current().lists.byName.has(c) : () => false, runtime.blocklistsDir);
  const threads = await ProxyThreads.start({
    config, runtime, redisUrl: init.redisUrl, threads: init.threads, port: init.port, tlsPort: init.tlsPort, records: init.records, log,
    policy: () => (holder ? sharePolicy(holder.current()) : null),
  });
  holder?.onSwap((s) => threads.setPolicy(sharePolicy(s)));

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), STOP_MS).unref();
    await threads.stop();
    await holder?.close();
    redis.disconnect();
    process.exit(0);
  };
  process.on('message', (m: PrimaryMessage) => {
    if (m.t === 'users') threads.setRecords(m.records);
    if (m.t === 'stop') void shutdown();
  });
  // Ctrl-C reaches the whole process group: the role process decides when workers stop (it sends
  // 'stop'), so none dies first and gets replaced during shutdown. SIGTERM alone stops cleanly.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void shutdown());
  // the role process is gone (killed): stop too, or this process would keep the port
  process.on('disconnect', () => void shutdown());
  process.off('disconnect', orphaned);
  // a drill: SIGUSR2 ends one worker thread at once, as a crash would; it is replaced, and its
  // events reach the stream from its journal
  process.on('SIGUSR2', () => {
    const tid = threads.crashOne();
    log.warn({ thread: tid }, 'SIGUSR2: ending a proxy worker thread at once (drill)');
  });
  send({ t: 'listening', port: threads.port, tlsPort: threads.tlsPort });
}

function portFree(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** One line at start saying what HTTPS inspection will do, and why not when it cannot. */
function logInspection(log: Logger, config: Config, hasCa: boolean, known: (category: string) => boolean, listsDir: string): void {
  const { inspect } = config.policy;
  if (inspect.categories.length === 0 && inspect.hosts.length === 0) return;
  if (!hasCa) {
    log.info('HTTPS inspection (policy.inspect) is off: no organisation CA yet (`fairwatch ca init`, then deploy the certificate)');
    return;
  }
  const missing = inspect.categories.filter((c) => !known(c));
  if (missing.length) log.warn(`policy.inspect.categories: ${missing.join(', ')} not in ${listsDir}; those sites are not inspected until the lists have them (the full UT1 collection does) or policy.inspect.hosts names them`);
}

// the role process gone before the threads run: nothing to stop yet
const orphaned = () => process.exit(0);
process.once('disconnect', orphaned);
process.once('message', (m: PrimaryMessage) => {
  if (m.t === 'init') {
    start(m).catch((e: Error & { code?: string }) => {
      process.stderr.write(`fairwatch proxy worker: ${e.message}\n`);
      send({ t: 'listen-error', code: e.code === 'EADDRINUSE' || e.code === 'EACCES' ? e.code : 'ERROR', message: e.message });
      process.exit(4);
    });
  }
});
// 'spawn' comes before this module has run; messages sent then would be lost, so ask for init now
send({ t: 'ready' });
