import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

// Redis for every role: REDIS_URL when set, otherwise a redis-server child process bound to
// 127.0.0.1 with its append-only file in the data directory. The child's pid and port are written
// to redis/managed.json so other processes on the same data directory (proxy workers, CLI) find it,
// and so a later start can stop a server left behind by a process that was SIGKILLed.

export class RedisError extends Error {
  readonly code = 'FW_REDIS';
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

export async function waitForPing(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    r.on('error', () => {});
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

/** A redis-server child process owned by this process. */
export class ManagedRedis {
  private child: ChildProcess | null = null;
  private exitHook = () => this.child?.kill('SIGTERM');
  readonly dir: string;

  private constructor(readonly dataDir: string, public port: number) {
    this.dir = join(dataDir, 'redis');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server (after stopping one a dead owner left behind). */
  static async start(dataDir: string, port?: number): Promise<ManagedRedis> {
    const bin = findRedisServer();
    if (!bin) {
      throw new RedisError('redis-server is not installed: run `sudo apt-get install -y redis-server` (or `npm run up` as root), or set REDIS_URL to an existing Redis');
    }
    const m = new ManagedRedis(dataDir, port ?? 0);
    mkdirSync(m.dir, { recursive: true, mode: 0o700 });
    await stopOrphan(dataDir);
    if (!m.port) m.port = await freePort();
    await m.spawn(bin);
    return m;
  }

  private async spawn(bin: string): Promise<void> {
    const args = [
      '--bind', '127.0.0.1', '--port', String(this.port), '--protected-mode', 'yes',
      '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'everysec',
      '--daemonize', 'no', '--logfile', join(this.dir, 'redis.log'), '--save', '',
    ];
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    this.child = child;
    process.on('exit', this.exitHook);
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code) => reject(new RedisError(`redis-server exited at start (code ${code}): ${stderr.trim() || `see ${join(this.dir, 'redis.log')}`}`)));
    });
    await Promise.race([waitForPing(this.port), exited]);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    writeFileSync(managedInfoPath(this.dataDir), JSON.stringify({ pid: child.pid ?? 0, port: this.port, dir: this.dir } satisfies ManagedRedisInfo), { mode: 0o600 });
  }

  /** Stops the server (it writes its append-only file first). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    process.off('exit', this.exitHook);
    if (!child || child.exitCode !== null) {
      this.child = null;
      return;
    }
    const done = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
    this.child = null;
    rmSync(managedInfoPath(this.dataDir), { force: true });
  }

  /** Kills the server abruptly (fault tests), leaving its files as a crash would. */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  /** Starts it again on the same port with the same files. */
  async restart(): Promise<void> {
    if (this.child) await this.stop();
    const bin = findRedisServer();
    if (!bin) throw new RedisError('redis-server is not installed');
    await this.spawn(bin);
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

export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  const r = new Redis(url, redisOptions(extra));
  // Errors surface on the command that failed; the connection-level event only reconnects.
  r.on('error', () => {});
  return r;
}
