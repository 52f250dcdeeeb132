import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { compiledModulePath } from '../core/compiled-module.ts';
import { QuickRestart } from '../core/ops/restart-backoff.ts';
import type { Runtime } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import type { Logger } from '../core/log.ts';
import { addMetricsSource } from '../core/metrics-http.ts';
import { counter } from '../core/metrics.ts';
import type { CredentialRecord } from './credentials.ts';
import { ProxyListenError } from './threads.ts';
import type { PrimaryMessage, WorkerMessage } from './worker-process.ts';

export { ProxyListenError } from './threads.ts';

// The proxy role's worker process (worker-process.ts): it compiles the lists once and runs the N
// worker threads that serve the port. The role process holds the user records and hands them on;
// if the worker process dies it is started again (at most once a second when it keeps dying).

/**
 * V8 runs garbage collection helpers on a pool of background threads (4 unless told). On a small
 * machine those compete for the cores the worker threads serve on, and a worker thread waiting
 * for a core is a request waiting: the pool gets the cores the worker threads leave, at least one.
 * --expose-gc: a quiet thread gives a burst's grown heap back with a full collection (idle-memory.ts).
 */
export function workerExecArgv(threads: number, cores = availableParallelism()): string[] {
  return [`--v8-pool-size=${Math.max(1, Math.min(4, cores - threads))}`, '--expose-gc'];
}

/**
 * The worker process's environment: the role process's, with glibc's allocator held to one arena
 * per worker thread and two more (the process's main thread, V8's helpers, libuv's pool), unless
 * the operator set MALLOC_ARENA_MAX. Left alone it makes up to eight per core, one for each thread
 * that meets contention, and the space a burst grew them to stays resident long after
 * (docs/architecture/proxy-workers.md, "Memory").
 */
export function workerEnv(threads: number, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? String(threads + 2) };
}

export interface ProxyClusterOptions {
  config: Config;
  runtime: Runtime;
  redisUrl: string;
  /** worker threads */
  workers: number;
  records: CredentialRecord[];
  log: Logger;
}

// the same counter the worker process keeps for its threads: the scrape sums both
const restarts = counter('fairwatch_proxy_worker_restarts_total', 'Proxy workers replaced after dying');

export class ProxyCluster {
  private child: ChildProcess | null = null;
  private records: CredentialRecord[];
  private stopping = false;
  private readonly restartRhythm = new QuickRestart();
  port = 0;
  /** proxy.tlsPort as listened on (a configured 0 resolved); undefined without one */
  tlsPort: number | undefined;

  private constructor(private readonly opts: ProxyClusterOptions) {
    this.records = opts.records;
  }

  static async start(opts: ProxyClusterOptions): Promise<ProxyCluster> {
    const c = new ProxyCluster(opts);
    try {
      c.port = await c.fork();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** The worker process's pid (its threads serve the port). */
  pids(): number[] {
    return this.child?.pid ? [this.child.pid] : [];
  }

  private fork(): Promise<number> {
    const { config, runtime, redisUrl, workers } = this.opts;
    // after a restart the port is the one already announced (the config may say 0)
    const port = this.port || config.proxy.port;
    // the compiled worker with no loader flags, whatever started the role process
    const w = fork(compiledModulePath(import.meta.url, './worker-process.ts'), [], { execArgv: workerExecArgv(workers), env: workerEnv(workers), stdio: 'inherit' });
    this.child = w;
    const dropSource = addMetricsSource(w);
    return new Promise((resolve, reject) => {
      let listening = false;
      w.on('message', (m: WorkerMessage) => {
        if (m.t === 'ready') {
          const init: PrimaryMessage = { t: 'init', config, runtime, redisUrl, records: this.records, port, tlsPort: this.tlsPort ?? config.proxy.tlsPort, bind: config.proxy.bind, threads: workers };
          w.send(init);
        } else if (m.t === 'listening') {
          listening = true;
          this.tlsPort ??= m.tlsPort;
          resolve(m.port);
        } else if (m.t === 'listen-error') {
          reject(m.code === 'EADDRINUSE'
            ? new ProxyListenError(`proxy port ${port} on ${config.proxy.bind} is already in use: set proxy.port in the config (or FAIRWATCH_PROXY_PORT) to a free port, or stop the program using it`)
            : m.code === 'EACCES'
              ? new ProxyListenError(`proxy port ${port} on ${config.proxy.bind} needs privileges: use a port above 1023 (proxy.port or FAIRWATCH_PROXY_PORT)`)
              : new ProxyListenError(m.message.startsWith('proxy ') ? m.message : `proxy worker could not start: ${m.message}`));
        }
      });
      w.once('exit', (code, signal) => {
        dropSource();
        if (this.child === w) this.child = null;
        if (!listening) {
          reject(new ProxyListenError(`proxy worker exited before listening (code ${code ?? signal})`));
          return;
        }
        if (this.stopping) return;
        this.opts.log.warn({ pid: w.pid, code, signal }, 'proxy worker process died; starting a new one');
        restarts.inc();
        this.replace();
      });
    });
  }

  /** Replaces a dead worker process; one dying over and over is restarted at most once a second. */
  private replace(): void {
    const delay = this.restartRhythm.delay(Date.now());
    setTimeout(() => {
      if (this.stopping) return;
      this.fork().catch((e: Error) => {
        this.opts.log.error({ err: e.message }, 'replacement proxy worker failed');
        if (!this.stopping) this.replace();
      });
    }, delay).unref();
  }

  /** New directory contents for every worker (after CHANNELS.usersChanged). */
  setRecords(records: CredentialRecord[]): void {
    this.records = records;
    if (this.child?.connected) this.child.send({ t: 'users', records } satisfies PrimaryMessage);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const w = this.child;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
      w.once('exit', () => { clearTimeout(timer); resolve(); });
      if (w.connected) w.send({ t: 'stop' } satisfies PrimaryMessage);
      else w.kill('SIGTERM');
    });
  }
}
