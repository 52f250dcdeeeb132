import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import type { Platform } from '../core/platform.ts';
import { bufferIO, type CommandContext } from './io.ts';

// The running primary owns the embedded store, so CLI commands started beside it are carried out
// by it: the CLI sends {argv, stdin} as one JSON line over a Unix socket in the data directory
// (mode 0600: only the same user), the primary runs the same command code and answers with the
// output and exit code, which the CLI prints as if it had run the command itself.

const MAX_REQUEST = 1 << 20;

export interface ControlRequest { argv: string[]; stdin: string }
export interface ControlResponse { stdout: string; stderr: string; exitCode: number }

export type Runner = (argv: string[], ctx: CommandContext) => Promise<number>;

/** Commands that make no sense inside the primary. */
const LOCAL_ONLY = new Set(['start', 'proxy', 'ingest', 'analyser', 'console']);

export function serveControl(socketPath: string, platform: Platform, run: Runner): Promise<Server> {
  rmSync(socketPath, { force: true });
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', async (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST) {
        sock.end(JSON.stringify({ stdout: '', stderr: 'fairwatch: control request too large\n', exitCode: 2 }) + '\n');
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      let req: ControlRequest;
      try {
        req = JSON.parse(line) as ControlRequest;
        if (!Array.isArray(req.argv) || req.argv.some((a) => typeof a !== 'string')) throw new Error('argv');
      } catch {
        sock.end(JSON.stringify({ stdout: '', stderr: 'fairwatch: malformed control request\n', exitCode: 2 }) + '\n');
        return;
      }
      const io = bufferIO(typeof req.stdin === 'string' ? req.stdin : '');
      let exitCode: number;
      if (LOCAL_ONLY.has(req.argv[0] ?? '')) {
        io.err(`fairwatch: \`${req.argv[0]}\` cannot run while process ${process.pid} owns this data directory\n`);
        exitCode = 1;
      } else {
        const ctx: CommandContext = {
          io,
          insidePrimary: true,
          withPlatform: (_needs, fn) => fn(platform),
        };
        try {
          exitCode = await run(req.argv, ctx);
        } catch (e) {
          io.err(`fairwatch: ${(e as Error).message}\n`);
          exitCode = 1;
        }
      }
      sock.end(JSON.stringify({ stdout: io.stdout, stderr: io.stderr, exitCode } satisfies ControlResponse) + '\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o600);
      // a forced stop (second Ctrl-C) leaves no socket behind either
      const removeOnExit = () => rmSync(socketPath, { force: true });
      process.on('exit', removeOnExit);
      platform.onClose(() => new Promise<void>((r) => {
        process.off('exit', removeOnExit);
        server.close(() => r());
        // the socket file goes now: a CLI started during the stop runs on its own instead of waiting
        rmSync(socketPath, { force: true });
      }));
      resolve(server);
    });
  });
}

export function sendControl(socketPath: string, req: ControlRequest, timeoutMs = 600_000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer from the running fairwatch on ${socketPath} within ${timeoutMs / 1000} s`)); }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => { buf += d; });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf.trim()) as ControlResponse);
      } catch {
        reject(new Error(`malformed answer from the running fairwatch on ${socketPath}`));
      }
    });
  });
}
