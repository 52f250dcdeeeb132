import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { counter, gauge } from '../core/metrics.ts';
import { newestSignature, type ClamdSupervision, type ClamdSupervisor } from '../core/net/clamd.ts';
import { ClamdClient } from './virus-scan.ts';
import { RestartBackoff } from '../core/ops/restart-backoff.ts';

export { clamdAddress, managedClamdSocket, newestSignature, signatureDate } from '../core/net/clamd.ts';

// scan.enabled with no scan.clamd: a clamd child process owned by the proxy role, listening on a
// unix socket in the data directory (every worker finds it there), reading signatures from
// scan.databaseDir (Debian's freshclam keeps them in /var/lib/clamav). Its own config file in the
// data directory: the system's /etc/clamav and its service are never touched. It runs in its own
// process group and is stopped last, like the managed redis-server.

const START_BOUND_MS = 180_000;

export interface ClamdOptions {
  maxMB: number;
  databaseDir: string;
  binary: string;
}

function findBinary(bin: string): string | null {
  if (bin.includes('/')) return existsSync(bin) ? bin : null;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  }
  return null;
}

export function clamdInstalled(bin = 'clamd'): string | null {
  const found = findBinary(bin);
  if (!found) return null;
  const v = spawnSync(found, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return v.status === 0 ? v.stdout.trim() : null;
}

const clamdRestarts = counter('fairwatch_clamd_restarts_total', 'Managed clamd restarted after it died');
const clamdUp = gauge('fairwatch_clamd_up', 'Managed clamd answering (1) or being restarted (0)');

export class ManagedClamd implements ClamdSupervisor {
  private child: ChildProcess | null = null;
  private readonly exitHook = () => this.child?.kill('SIGTERM');
  readonly socket: string;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  /** waits between restarts of a clamd that keeps dying */
  private readonly backoff = new RestartBackoff();
  /** the running child has answered (a restarted clamd loads its signatures first) */
  private answering = false;
  /** told of every unexpected exit and restart (the role logs them) */
  onEvent: (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void = () => {};

  private constructor(readonly dir: string, private readonly bin: string, private readonly opts: ClamdOptions) {
    this.socket = join(dir, 'clamd.sock');
  }

  get logFile(): string {
    return join(this.dir, 'clamd.log');
  }

  /** For doctor and the health page: whether it answers and how often it was restarted. */
  health(now = Date.now()): ClamdSupervision {
    return { up: this.child !== null && this.answering, ...this.backoff.counts(now) };
  }

  /** Supervision: a clamd that dies (OOM killer, a crash) is started again, with backoff; downloads follow scan.onError meanwhile. */
  private died(code: number | null, signal: NodeJS.Signals | null): void {
    this.child = null;
    clamdUp.set(0);
    if (this.stopping || this.restartTimer) return;
    const delay = this.backoff.died(Date.now());
    this.onEvent('warn', 'managed clamd died: restarting it (downloads follow scan.onError meanwhile)', { code, signal, retryInMs: delay, log: join(this.dir, 'clamd.log') });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.spawn().then(() => {
        this.backoff.restarted(Date.now());
        clamdRestarts.inc();
        this.onEvent('info', 'managed clamd restarted', { pid: this.child?.pid, restarts: this.backoff.counts(Date.now()).restarts });
      }, (e: Error) => {
        this.onEvent('error', 'managed clamd did not start again', { err: e.message });
        this.died(null, null);
      });
    }, delay);
    this.restartTimer.unref();
  }

  /** Starts clamd in `<dataDir>/clamav` and waits until it answers (loading signatures takes a while). */
  static async start(dataDir: string, opts: ClamdOptions): Promise<ManagedClamd> {
    const bin = findBinary(opts.binary);
    if (!bin) {
      throw new Error(`scan.enabled is on and scan.clamd is unset, but ${opts.binary} is not installed: run \`sudo apt-get install -y clamav-daemon clamav-freshclam\` (freshclam fetches the signatures), set scan.clamd to a running clamd, or turn scan.enabled off`);
    }
    if (!newestSignature(opts.databaseDir)) {
      throw new Error(`scan.databaseDir ${opts.databaseDir} holds no ClamAV signatures: run \`sudo freshclam\` (package clamav-freshclam), or point scan.databaseDir at a directory that has them`);
    }
    const m = new ManagedClamd(join(dataDir, 'clamav'), bin, opts);
    await m.spawn();
    return m;
  }

  private writeConfig(): string {
    mkdirSync(join(this.dir, 'tmp'), { recursive: true, mode: 0o700 });
    const limit = `${Math.ceil(this.opts.maxMB) + 1}M`;
    const conf = join(this.dir, 'clamd.conf');
    writeFileSync(conf, [
      '# written by fairwatch at every start (scan.*): edits are lost',
      `LocalSocket ${this.socket}`, 'LocalSocketMode 660', 'Foreground yes',
      `DatabaseDirectory ${this.opts.databaseDir}`,
      `TemporaryDirectory ${join(this.dir, 'tmp')}`,
      `LogFile ${join(this.dir, 'clamd.log')}`, 'LogTime yes', 'LogFileMaxSize 10M', 'LogRotate yes',
      // a download up to scan.maxMB is scanned whole
      `StreamMaxLength ${limit}`, `MaxFileSize ${limit}`, `MaxScanSize ${Math.ceil(this.opts.maxMB) * 4 + 100}M`,
      '',
    ].join('\n'), { mode: 0o600 });
    return conf;
  }

  private async spawn(): Promise<void> {
    rmSync(this.socket, { force: true });
    const child = spawn(this.bin, ['-c', this.writeConfig()], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    this.child = child;
    this.answering = false;
    process.on('exit', this.exitHook);
    const client = new ClamdClient(this.socket, 2000);
    const started = Date.now();
    for (let i = 0; Date.now() - started < START_BOUND_MS; i++) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        throw new Error(`clamd exited at start (${child.exitCode ?? child.signalCode}): ${stderr.trim().split('\n').slice(-3).join(' / ') || `see ${join(this.dir, 'clamd.log')}`}`);
      }
      if (existsSync(this.socket)) {
        try {
          await client.version();
          child.stderr?.removeAllListeners('data');
          child.stderr?.resume();
          if (this.stopping) {
            // stopped while it was loading: it must not outlive the proxy
            child.kill('SIGTERM');
            this.child = null;
            return;
          }
          this.backoff.up(Date.now());
          this.answering = true;
          clamdUp.set(1);
          child.once('exit', (code, signal) => { if (this.child === child) this.died(code, signal); });
          return;
        } catch { /* still loading */ }
      }
      await new Promise((r) => setTimeout(r, Math.min(50 * (i + 1), 500)));
    }
    child.kill('SIGKILL');
    this.child = null;
    throw new Error(`clamd did not answer on ${this.socket} within ${START_BOUND_MS / 1000} s (see ${join(this.dir, 'clamd.log')})`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL, as a crash would (fault tests). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    process.off('exit', this.exitHook);
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await Promise.race([done, new Promise((r) => setTimeout(r, 6000).unref())]);
      clearTimeout(timer);
    }
    rmSync(this.socket, { force: true });
  }
}
