import type { Redis } from 'ioredis';
import { ConfigError, loadConfig, runtimeFromEnv, type LoadedConfig, type Runtime } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { Pseudonymiser } from './identity/pseudonym.ts';
import type { ClamdSupervisor } from './net/clamd.ts';
import { UserDirectory } from './identity/users.ts';
import { ensureKeys, loadKey } from './keys.ts';
import { createLogger, type Logger } from './log.ts';
import { syslogFromConfig } from './siem/forwarder.ts';
import { Store } from './storage/clickhouse.ts';
import { DataDirLock, prepareDataDir } from './storage/datadir.ts';
import type { Topology } from './storage/ddl.ts';
import { migrate } from './storage/migrations.ts';
import { connectRedis, ManagedRedis } from './storage/redis.ts';

// What every role stands on: config, keys, the store, Redis. Opened once per process by the role or
// command that needs it; closed in reverse order. Proxy workers open only Redis (they never touch
// ClickHouse), so `store: false` there.

/** Longest any one platform shutdown step may take (the managed redis-server's own grace is shorter). */
const CLOSE_STEP_MS = 6000;

export interface PlatformOptions {
  role: string;
  loaded?: LoadedConfig;
  env?: NodeJS.ProcessEnv;
  /** open ClickHouse (and run migrations) */
  store?: boolean;
  /** connect to Redis (starting the managed server when REDIS_URL is unset and we own the data dir) */
  redis?: boolean;
  /** in a child process: Redis URL handed down by the primary */
  redisUrl?: string;
  /** serve CLI commands on this socket (recorded in the lock file) */
  controlSocket?: string;
}

export class Platform {
  readonly log: Logger;
  private closers: Array<() => Promise<void> | void> = [];
  store!: Store;
  redis!: Redis;
  managedRedis: ManagedRedis | null = null;
  /** the clamd the proxy role runs (scan.enabled, no scan.clamd), for doctor and the health page */
  managedClamd: ClamdSupervisor | null = null;
  lock: DataDirLock | null = null;
  users!: UserDirectory;
  pseudonyms!: Pseudonymiser;
  redisUrl = '';

  private constructor(readonly config: Config, readonly runtime: Runtime, readonly role: string, readonly env: NodeJS.ProcessEnv) {
    this.log = createLogger(role);
  }

  static async open(opts: PlatformOptions): Promise<Platform> {
    const env = opts.env ?? process.env;
    const loaded = opts.loaded ?? loadConfig(runtimeFromEnv(env), env);
    const p = new Platform(loaded.config, loaded.runtime, opts.role, env);
    try {
      await p.init(opts);
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  /** Whether this process must own the data directory (embedded engine or managed Redis). */
  static needsLock(runtime: Runtime, opts: Pick<PlatformOptions, 'store' | 'redis' | 'redisUrl'>): boolean {
    return Boolean((opts.store && !runtime.clickhouseUrl) || (opts.redis && !runtime.redisUrl && !opts.redisUrl));
  }

  private async init(opts: PlatformOptions): Promise<void> {
    const { runtime } = this;
    prepareDataDir(runtime.dataDir);
    if (Platform.needsLock(runtime, opts)) {
      this.lock = DataDirLock.acquire(runtime.dataDir, opts.role, opts.controlSocket);
      this.closers.push(() => this.lock?.release());
    }
    ensureKeys(runtime.dataDir, this.env);
    // audit rows and security events of this process go to the SIEM when siem.syslog is set
    const siem = syslogFromConfig(this.config, (msg) => this.log.warn(msg));
    if (siem) this.closers.push(() => siem.close());
    this.pseudonyms = new Pseudonymiser(loadKey(runtime.dataDir, 'pseudonym', this.env));
    if (opts.redis) {
      let url = opts.redisUrl ?? runtime.redisUrl;
      if (!url) {
        this.managedRedis = await ManagedRedis.start(runtime.dataDir, undefined, { maxMemoryMB: this.config.pipeline.redisMaxMemoryMB });
        const managed = this.managedRedis;
        managed.onEvent = (level, msg, detail) => this.log[level](detail, msg);
        this.closers.push(() => managed.stop());
        url = managed.url;
      }
      this.redisUrl = url;
      this.redis = connectRedis(url, this.log);
      const redis = this.redis;
      this.closers.push(() => { redis.disconnect(); });
    }
    if (opts.store) {
      if (this.config.storage.cluster && !runtime.clickhouseUrl) throw new ConfigError('storage.cluster: a cluster needs CLICKHOUSE_URL (the embedded engine is one server)');
      this.store = await Store.open({ clickhouseUrl: runtime.clickhouseUrl, dataDir: runtime.dataDir });
      const store = this.store;
      this.closers.push(() => store.close());
      await migrate(this.store, this.config.retention, this.topology);
      this.users = new UserDirectory(this.store);
    }
  }

  /** One server (or embedded) unless `storage.cluster` names a ClickHouse cluster. */
  get topology(): Topology {
    return this.config.storage.cluster ? { kind: 'cluster', cluster: this.config.storage.cluster } : { kind: 'single' };
  }

  /** Registers a shutdown step; steps run in reverse order of registration. */
  onClose(fn: () => Promise<void> | void): void {
    this.closers.push(fn);
  }

  /** Runs the shutdown steps in reverse order; each is bounded, so one that hangs cannot hold the rest. */
  async close(stepTimeoutMs = CLOSE_STEP_MS): Promise<void> {
    const steps = this.closers.reverse();
    this.closers = [];
    for (const step of steps) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), stepTimeoutMs); });
        if ((await Promise.race([Promise.resolve().then(step), late])) === 'late') {
          this.log.warn({ afterMs: stepTimeoutMs }, 'shutdown step did not finish in time: going on');
        }
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
