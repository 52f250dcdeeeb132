import type { Platform } from '../core/platform.ts';
import { terminalProgress, type TerminalProgress } from './progress.ts';
import { FairwatchError } from '../core/errors.ts';

/** Where a command writes, and its standard input (read once, cached so it can be forwarded). */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** a progress line for a long command: drawn on a terminal, silent otherwise (and over the control socket) */
  progress(): TerminalProgress;
}

/** How a command reaches the store: opened here, or the running primary's own (control socket). */
export interface CommandContext {
  io: CommandIO;
  /** true when the command runs inside the process that owns the data directory */
  insidePrimary: boolean;
  /** runs `fn` with an open platform (store + Redis as asked) and returns its exit code */
  withPlatform(needs: { store?: boolean; redis?: boolean }, fn: (p: Platform) => Promise<number>): Promise<number>;
}

/** Thrown by a command to end with a one-line message and an exit code. */
/** A command that cannot go on: the message is printed after `fairwatch: `, the process exits `exitCode`. */
export class CommandFailure extends FairwatchError {
  constructor(message: string, exitCode = 1) {
    super('FW_COMMAND', message, { exitCode });
  }
}

export function processIO(): CommandIO {
  let cached: Promise<string> | null = null;
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    progress: () => terminalProgress(process.stderr),
    readStdin: () => {
      cached ??= (async () => {
        if (process.stdin.isTTY) return '';
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      })();
      return cached;
    },
  };
}

export function bufferIO(stdin: string): CommandIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) { io.stdout += t; },
    err(t: string) { io.stderr += t; },
    readStdin: async () => stdin,
    progress: (): TerminalProgress => ({ sink: () => {}, end: () => {} }),
  };
  return io;
}
