import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { loadKey } from '../keys.ts';
import { counter, gauge } from '../metrics.ts';
import { FairwatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { logRedisErrors } from './redis-errors.ts';
import { DEFAULT_REDIS_MAX_MEMORY_MB } from '../config/defaults.ts';
import { RestartBackoff } from '../ops/restart-backoff.ts';

// Redis for every role: REDIS_URL when set, otherwise a redis-server child process bound to
// 127.0.0.1 with its append-only file in the data directory. The child's pid and port are written
// to redis/managed.json so other processes on the same data directory (proxy workers, CLI) find it,
// and so a later start can stop a server left behind by a process that was SIGKILLed.

export class RedisError extends FairwatchError {
  constructor(message: string) {
    super('FW_REDIS', message);
  }
}

export interface ManagedRedisInfo {
  pid: number;
  port: number;
  dir: string;
}

export function managedInfoPath(dataDir: string): string {
  return join(dataDir, 'redis', 'managed.json');
}

export function readManagedInfo(dataDir: string): ManagedRedisInfo | null {
  try {
    return JSON.parse(readFileSync(managedInfoPath(dataDir), 'utf8')) as ManagedRedisInfo;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function findRedisServer(): string | null {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin').split(':')) {
    const p = join(dir, 'redis-server');
    if (dir && existsSync(p)) return p;
  }
  return null;
}

export async function waitForPing(port: number, timeoutMs = 10_000, host = '127.0.0.1', password?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const r = new Redis({ host, port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    r.on('error', () => {}); // a probe: its last failure goes into the RedisError below
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') {
        r.disconnect();
        return;
      }
    } catch (e) {
      lastError = e;
    }
    r.disconnect();
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new RedisError(`redis-server on 127.0.0.1:${port} did not answer PING within ${timeoutMs} ms (${(lastError as Error)?.message ?? 'no answer'})`);
}

/** What supervision knows about the managed server, for `fairwatch doctor`, /healthz and /metrics. */
export interface ManagedRedisHealth {
  up: boolean;
  /** restarts after an unexpected exit since this process started it */
  restarts: number;
  /** restarts in the last hour */
  restartsLastHour: number;
  lastExit: { at: string; code: number | null; signal: string | null } | null;
}

const STOP_GRACE_MS = 4000;

const redisRestarts = counter('fairwatch_redis_restarts_total', 'Managed redis-server restarted after it died');
const redisUp = gauge('fairwatch_redis_up', 'Managed redis-server running (1) or down (0)');

/** The generated password of the managed redis-server (keys/redis-password.key, 0600). */
export function managedRedisPassword(dataDir: string): string {
  return loadKey(dataDir, 'redis-password').toString('hex');
}

/** The URL (with its password) of the managed redis-server running on this data directory, if any. */
export function managedRedisUrl(dataDir: string): string | null {
  const info = readManagedInfo(dataDir);
  return info ? `redis://:${managedRedisPassword(dataDir)}@127.0.0.1:${info.port}` : null;
}

/** A Redis URL with its password masked, for output and logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * A redis-server child process owned by this process, supervised: it runs in its own process group
 * (so Ctrl-C or systemd's SIGTERM to fairwatch's group does not kill it before fairwatch has flushed
 * its events into it; fairwatch stops it last), and when it dies unexpectedly it is started again on
 * the same port and files, with backoff. Clients reconnect by themselves (ioredis retries).
 */
export class ManagedRedis {
  private child: ChildProcess | null = null;
  private exitHook = () => this.child?.kill('SIGTERM');
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly backoff = new RestartBackoff();
  private lastExit: ManagedRedisHealth['lastExit'] = null;
  private readonly password: string;
  readonly dir: string;
  /** called after every unexpected exit and every restart (log lines) */
  onEvent: (level: 'warn' | 'info' | 'error', msg: string, detail: Record<string, unknown>) => void = () => {};

  private constructor(readonly dataDir: string, public port: number, private readonly bin: string, readonly maxMemoryMB: number) {
    this.dir = join(dataDir, 'redis');
    this.password = managedRedisPassword(dataDir);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `redis://:${this.password}@127.0.0.1:${this.port}`;
  }

  health(): ManagedRedisHealth {
    return {
      up: this.child !== null && this.child.exitCode === null && this.restartTimer === null,
      ...this.backoff.counts(Date.now()),
      lastExit: this.lastExit,
    };
  }

  /** Starts redis-server (after stopping one a dead owner left behind). */
  static async start(dataDir: string, port?: number, opts: { maxMemoryMB?: number } = {}): Promise<ManagedRedis> {
    const bin = findRedisServer();
    if (!bin) {
      throw new RedisError('redis-server is not installed: run `sudo apt-get install -y redis-server` (or `npm run up` as root), or set REDIS_URL to an existing Redis');
    }
    mkdirSync(join(dataDir, 'redis'), { recursive: true, mode: 0o700 });
    const m = new ManagedRedis(dataDir, port ?? 0, bin, opts.maxMemoryMB ?? DEFAULT_REDIS_MAX_MEMORY_MB);
    await stopOrphan(dataDir);
    if (!m.port) m.port = await freePort();
    await m.spawn();
    return m;
  }

  /** The password goes in a 0600 config file, never on the command line (other accounts can read that). */
  private writeConfig(): string {
    const conf = join(this.dir, 'redis.conf');
    const text = [
      '# written by fairwatch at every start: edits are lost',
      `requirepass ${this.password}`,
      'bind 127.0.0.1', `port ${this.port}`, 'protected-mode yes',
      `dir ${this.dir}`, 'appendonly yes', 'appendfsync everysec',
      'daemonize no', `logfile ${join(this.dir, 'redis.log')}`, 'save ""',
      // Past the limit Redis refuses writes (OOM) and never evicts: a silently evicted stream entry
      // would be events lost. Refused event writes go to the proxy's disk spool (stream-sink.ts).
      `maxmemory ${this.maxMemoryMB}mb`, 'maxmemory-policy noeviction', '',
    ].join('\n');
    writeFileSync(conf, text, { mode: 0o600 });
    chmodSync(conf, 0o600);
    return conf;
  }

  private async spawn(): Promise<void> {
    // own process group (detached): a signal to fairwatch's group does not reach it
    const child = spawn(this.bin, [this.writeConfig()], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    this.child = child;
    process.off('exit', this.exitHook);
    process.on('exit', this.exitHook);
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code) => reject(new RedisError(`redis-server exited at start (code ${code}): ${stderr.trim() || `see ${join(this.dir, 'redis.log')}`}`)));
    });
    try {
      await Promise.race([waitForPing(this.port, 10_000, '127.0.0.1', this.password), exited]);
    } catch (e) {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (this.child === child) this.child = null;
      throw e;
    }
    child.removeAllListeners('exit');
    // stderr is only read for the start-up error; drain it so a chatty server never blocks
    child.stderr?.removeAllListeners('data');
    child.stderr?.resume();
    child.once('exit', (code, signal) => this.exitedUnexpectedly(child, code, signal));
    this.backoff.up(Date.now());
    redisUp.set(1);
    writeFileSync(managedInfoPath(this.dataDir), JSON.stringify({ pid: child.pid ?? 0, port: this.port, dir: this.dir } satisfies ManagedRedisInfo), { mode: 0o600 });
  }

  private exitedUnexpectedly(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    redisUp.set(0);
    if (this.stopping) return;
    this.lastExit = { at: new Date().toISOString(), code, signal };
    this.scheduleRestart(this.backoff.died(Date.now()));
  }

  private scheduleRestart(delay: number): void {
    if (this.stopping || this.restartTimer) return;
    this.onEvent('warn', 'managed redis-server died: restarting it (events wait in the disk spool meanwhile)', { ...this.lastExit, port: this.port, retryInMs: delay, log: join(this.dir, 'redis.log') });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.spawn().then(() => {
        this.backoff.restarted(Date.now());
        redisRestarts.inc();
        this.onEvent('info', 'managed redis-server restarted', { port: this.port, pid: this.child?.pid, restarts: this.backoff.counts(Date.now()).restarts });
      }, (e: Error) => {
        this.onEvent('error', 'managed redis-server did not restart: trying again', { err: e.message, port: this.port });
        this.scheduleRestart(this.backoff.retry());
      });
    }, delay);
  }

  /** Stops the server (it writes its append-only file first); SIGKILL if it takes too long. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    process.off('exit', this.exitHook);
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = null;
      rmSync(managedInfoPath(this.dataDir), { force: true });
      return;
    }
    const done = new Promise<void>((res) => {
      if (child.exitCode !== null || child.signalCode !== null) res();
      else child.once('exit', () => res());
    });
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    // bounded even if the exit is never reported
    await Promise.race([done, new Promise((r) => setTimeout(r, STOP_GRACE_MS + 1000).unref())]);
    clearTimeout(timer);
    this.child = null;
    redisUp.set(0);
    rmSync(managedInfoPath(this.dataDir), { force: true });
  }

  /** Kills the server abruptly (fault tests), leaving its files as a crash would; no restart. */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  /** Starts it again on the same port with the same files (and supervises it again). */
  async restart(): Promise<void> {
    if (this.child) await this.stop();
    this.stopping = false;
    await this.spawn();
  }
}

/** Stops a redis-server that a SIGKILLed owner left running on this data directory. */
async function stopOrphan(dataDir: string): Promise<void> {
  const info = readManagedInfo(dataDir);
  if (!info || !isAlive(info.pid)) return;
  if (!commandLineOf(info.pid).includes('redis-server')) return;
  process.kill(info.pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (isAlive(info.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(info.pid)) process.kill(info.pid, 'SIGKILL');
}

/** Options every fairwatch Redis client uses: never queue commands forever while Redis is away. */
export function redisOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    connectTimeout: 2000,
    ...extra,
  };
}

export function connectRedis(url: string, log: Logger, extra: RedisOptions = {}, name = 'connection'): Redis {
  const r = new Redis(url, redisOptions(extra));
  // Commands fail on their own; the connection-level event says Redis is away (logged, rate-limited).
  logRedisErrors(r, log, name);
  return r;
}
