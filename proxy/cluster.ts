import cluster, { type Worker } from 'node:cluster';
import { compiledModulePath } from '../core/compiled-module.ts';
import type { Runtime } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import type { Logger } from '../core/log.ts';
import { gauge, counter } from '../core/metrics.ts';
import type { CredentialRecord } from './credentials.ts';
import type { PrimaryMessage, WorkerMessage } from './worker.ts';
import { FairwatchError } from '../core/errors.ts';

// N proxy workers sharing one listener (node:cluster, round-robin accept in the primary, so
// connections spread evenly). A worker that dies is replaced; the others' connections are not
// touched. The primary holds the user records and hands them to every worker.

export class ProxyListenError extends FairwatchError {
  constructor(message: string) {
    super('FW_PROXY_LISTEN', message);
  }
}

export interface ProxyClusterOptions {
  config: Config;
  runtime: Runtime;
  redisUrl: string;
  workers: number;
  records: CredentialRecord[];
  log: Logger;
}

const restarts = counter('fairwatch_proxy_worker_restarts_total', 'Proxy workers replaced after dying');
const alive = gauge('fairwatch_proxy_workers', 'Proxy workers running');

export class ProxyCluster {
  private readonly workers = new Set<Worker>();
  private records: CredentialRecord[];
  private stopping = false;
  private recentDeaths: number[] = [];
  port = 0;
  /** proxy.tlsPort as listened on (a configured 0 resolved); undefined without one */
  tlsPort: number | undefined;

  private constructor(private readonly opts: ProxyClusterOptions) {
    this.records = opts.records;
  }

  static async start(opts: ProxyClusterOptions): Promise<ProxyCluster> {
    const c = new ProxyCluster(opts);
    // workers run the compiled worker with no loader flags, whatever started the primary
    cluster.setupPrimary({ exec: compiledModulePath(import.meta.url, './worker.ts'), execArgv: [] });
    try {
      // every worker asks for the configured port, even 0 (any free one): the primary keys the
      // shared handle by what was asked, so they all get the one the first worker was given
      c.port = await c.fork();
      await Promise.all(Array.from({ length: opts.workers - 1 }, () => c.fork()));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  pids(): number[] {
    return [...this.workers].map((w) => w.process.pid ?? 0);
  }

  private fork(): Promise<number> {
    const { config, runtime, redisUrl } = this.opts;
    const port = config.proxy.port;
    const w = cluster.fork({ FAIRWATCH_PROXY_WORKER: '1' });
    this.workers.add(w);
    alive.set(this.workers.size);
    return new Promise((resolve, reject) => {
      let listening = false;
      w.on('message', (m: WorkerMessage) => {
        if (m.t === 'ready') {
          const init: PrimaryMessage = { t: 'init', config, runtime, redisUrl, records: this.records, port, bind: config.proxy.bind };
          w.send(init);
        } else if (m.t === 'listening') {
          listening = true;
          this.tlsPort ??= m.tlsPort;
          resolve(m.port);
        } else if (m.t === 'listen-error') {
          reject(m.code === 'EADDRINUSE'
            ? new ProxyListenError(`proxy port ${port || this.port} on ${config.proxy.bind} is already in use: set proxy.port in the config (or FAIRWATCH_PROXY_PORT) to a free port, or stop the program using it`)
            : m.code === 'EACCES'
              ? new ProxyListenError(`proxy port ${port || this.port} on ${config.proxy.bind} needs privileges: use a port above 1023 (proxy.port or FAIRWATCH_PROXY_PORT)`)
              : m.code === 'TLS'
                ? new ProxyListenError(m.message)
                : new ProxyListenError(`proxy worker could not start: ${m.message}`));
        }
      });
      w.once('exit', (code, signal) => {
        this.workers.delete(w);
        alive.set(this.workers.size);
        if (!listening) {
          reject(new ProxyListenError(`proxy worker exited before listening (code ${code ?? signal})`));
          return;
        }
        if (this.stopping) return;
        this.opts.log.warn({ pid: w.process.pid, code, signal }, 'proxy worker died; starting a new one');
        restarts.inc();
        this.replace();
      });
    });
  }

  /** Replaces a dead worker; a worker dying over and over is restarted at most once a second. */
  private replace(): void {
    const now = Date.now();
    this.recentDeaths = this.recentDeaths.filter((t) => now - t < 10_000);
    this.recentDeaths.push(now);
    const delay = this.recentDeaths.length > 3 ? 1000 : 0;
    setTimeout(() => {
      if (this.stopping) return;
      this.fork().catch((e: Error) => this.opts.log.error({ err: e.message }, 'replacement proxy worker failed'));
    }, delay).unref();
  }

  /** New directory contents for every worker (after CHANNELS.usersChanged). */
  setRecords(records: CredentialRecord[]): void {
    this.records = records;
    for (const w of this.workers) if (w.isConnected()) w.send({ t: 'users', records } satisfies PrimaryMessage);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.workers].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      const timer = setTimeout(() => w.process.kill('SIGKILL'), 5000);
      w.once('exit', () => { clearTimeout(timer); resolve(); });
      if (w.isConnected()) w.send({ t: 'stop' } satisfies PrimaryMessage);
      else w.process.kill('SIGTERM');
    })));
  }
}
