import { Worker } from 'node:worker_threads';
import { compiledModulePath } from '../core/compiled-module.ts';
import { QuickRestart } from '../core/ops/restart-backoff.ts';
import { FairwatchError } from '../core/errors.ts';
import type { Runtime } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import type { Logger } from '../core/log.ts';
import { addMetricsSource } from '../core/metrics-http.ts';
import { gauge, counter } from '../core/metrics.ts';
import type { CredentialRecord } from './credentials.ts';
import type { SharedPolicy } from './shared-policy.ts';
import type { ThreadInit, ThreadMessage, ToThread } from './worker.ts';

// N proxy worker threads in the proxy's worker process, each with its own listener on the same
// port (SO_REUSEPORT: the kernel spreads new connections over them). They share one compiled copy
// of the lists (SharedArrayBuffers, see core/policy/domain-table.ts). A thread that dies is
// replaced; the others' connections are not touched.

export class ProxyListenError extends FairwatchError {
  constructor(message: string) {
    super('FW_PROXY_LISTEN', message);
  }
}

export interface ThreadPoolOptions {
  config: Config;
  runtime: Runtime;
  redisUrl: string;
  threads: number;
  /** the port to serve (0: any free one; after a restart of the worker process, the one announced before) */
  port: number;
  /** proxy.tlsPort likewise; undefined: no TLS listener */
  tlsPort: number | undefined;
  records: CredentialRecord[];
  /** the compiled policy every new thread starts with (null: allow everything until one loads) */
  policy: () => SharedPolicy | null;
  log: Logger;
}

const restarts = counter('fairwatch_proxy_worker_restarts_total', 'Proxy workers replaced after dying');
const alive = gauge('fairwatch_proxy_workers', 'Proxy workers running');

// A thread's young generation left to grow as it likes swells every thread's heap under load,
// though little of it is live: capped here, the workers stay small at no measurable cost in speed
// (docs/benchmarks.md has the runs); much smaller and collections come often enough to cost.
const YOUNG_GENERATION_MB = 16;

export class ProxyThreads {
  private readonly workers = new Set<Worker>();
  /** worker threads of this process that exited: a new thread adopts their event journals */
  private readonly dead: number[] = [];
  private records: CredentialRecord[];
  private stopping = false;
  private readonly restartRhythm = new QuickRestart();
  port = 0;
  /** proxy.tlsPort as the first thread listened on it (a configured 0 resolved); undefined: none */
  tlsPort: number | undefined;

  private constructor(private readonly opts: ThreadPoolOptions) {
    this.records = opts.records;
  }

  static async start(opts: ThreadPoolOptions): Promise<ProxyThreads> {
    const t = new ProxyThreads(opts);
    try {
      // the first thread asks for the configured port (0: any free one); the others join it
      t.port = await t.spawn();
      await Promise.all(Array.from({ length: opts.threads - 1 }, () => t.spawn()));
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  get size(): number {
    return this.workers.size;
  }

  private spawn(): Promise<number> {
    const { config, runtime, redisUrl } = this.opts;
    const port = this.port || this.opts.port;
    const w = new Worker(compiledModulePath(import.meta.url, './worker.ts'), { execArgv: [], stdout: false, stderr: false, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    const tid = w.threadId;
    this.workers.add(w);
    alive.set(this.workers.size);
    const dropSource = addMetricsSource(w);
    return new Promise((resolve, reject) => {
      let listening = false;
      w.on('message', (m: ThreadMessage) => {
        if (m.t === 'ready') {
          const init: ThreadInit = { t: 'init', config, runtime, redisUrl, records: this.records, port, tlsPort: this.tlsPort ?? this.opts.tlsPort, bind: config.proxy.bind, policy: this.opts.policy(), deadThreads: this.dead };
          w.postMessage(init);
        } else if (m.t === 'listening') {
          listening = true;
          this.tlsPort ??= m.tlsPort;
          resolve(m.port);
        } else if (m.t === 'listen-error') {
          reject(m.code === 'EADDRINUSE'
            ? new ProxyListenError(`proxy port ${port} on ${config.proxy.bind} is already in use: set proxy.port in the config (or FAIRWATCH_PROXY_PORT) to a free port, or stop the program using it`)
            : m.code === 'EACCES'
              ? new ProxyListenError(`proxy port ${port} on ${config.proxy.bind} needs privileges: use a port above 1023 (proxy.port or FAIRWATCH_PROXY_PORT)`)
              : m.code === 'TLS'
                ? new ProxyListenError(m.message)
                : new ProxyListenError(`proxy worker could not start: ${m.message}`));
        }
      });
      w.on('error', (e) => this.opts.log.error({ thread: tid, err: e.message, stack: e.stack }, 'proxy worker thread failed'));
      w.once('exit', (code) => {
        this.workers.delete(w);
        dropSource();
        this.dead.push(tid);
        alive.set(this.workers.size);
        if (!listening) {
          reject(new ProxyListenError(`proxy worker exited before listening (code ${code})`));
          return;
        }
        if (this.stopping) return;
        this.opts.log.warn({ thread: tid, code }, 'proxy worker thread died; starting a new one');
        restarts.inc();
        this.replace();
      });
    });
  }

  /** Replaces a dead thread; a thread dying over and over is restarted at most once a second. */
  private replace(): void {
    const delay = this.restartRhythm.delay(Date.now());
    setTimeout(() => {
      if (this.stopping) return;
      this.spawn().then(
        () => this.opts.log.info({ threads: this.workers.size }, 'replacement proxy worker thread listening'),
        (e: Error) => this.opts.log.error({ err: e.message }, 'replacement proxy worker failed'),
      );
    }, delay).unref();
  }

  /** Ends the oldest thread at once, as a crash would (a drill: the pool must replace it and lose no event). */
  crashOne(): number | null {
    const w = this.workers.values().next().value;
    if (!w) return null;
    void w.terminate();
    return w.threadId;
  }

  /** A new compiled policy for every thread: each swaps it in with one assignment. */
  setPolicy(policy: SharedPolicy): void {
    for (const w of this.workers) w.postMessage({ t: 'policy', policy } satisfies ToThread);
  }

  /** New directory contents for every thread (after CHANNELS.usersChanged). */
  setRecords(records: CredentialRecord[]): void {
    this.records = records;
    for (const w of this.workers) w.postMessage({ t: 'users', records } satisfies ToThread);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.workers].map((w) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => void w.terminate(), 5000);
      w.once('exit', () => { clearTimeout(timer); resolve(); });
      w.postMessage({ t: 'stop' } satisfies ToThread);
    })));
  }
}
