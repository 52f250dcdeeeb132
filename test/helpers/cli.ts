import { spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fairwatch');

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the real `fairwatch` command in a child process. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, FAIRWATCH_LOG_LEVEL: 'warn', ...opts.env },
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`fairwatch ${args.join(' ')} timed out\n${stderr}`)); }, opts.timeoutMs ?? 60_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Starts a long-running `fairwatch <role>` and resolves once it printed its ready line. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; readyPattern?: RegExp; timeoutMs?: number; detached?: boolean } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, FAIRWATCH_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // its own process group, as under a terminal or systemd: signal(…, { group: true }) reaches all of it
    detached: opts.detached ?? false,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fairwatch ${args.join(' ')} not ready\nstdout: ${stdout}\nstderr: ${stderr}`)), opts.timeoutMs ?? 60_000);
    const check = () => {
      if ((opts.readyPattern ?? /Press Ctrl-C to stop/).test(stdout)) { clearTimeout(timer); resolve(); }
    };
    child.stdout.on('data', check);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`fairwatch ${args.join(' ')} exited ${code}\nstdout: ${stdout}\nstderr: ${stderr}`)); });
  });
  const stopped = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
  return {
    child,
    ready,
    output: () => ({ stdout, stderr }),
    /** Sends `signal` to the process, or to its whole process group (needs `detached`). */
    signal(signal: NodeJS.Signals, o: { group?: boolean } = {}): void {
      process.kill(o.group ? -child.pid! : child.pid!, signal);
    },
    /** Exit code (128 + n style: 128 when killed by a signal), or null if still running after `ms`. */
    exited(ms: number): Promise<number | null> {
      return Promise.race([stopped, new Promise<null>((r) => setTimeout(() => r(null), ms).unref())]);
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return stopped;
    },
  };
}
