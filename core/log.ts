import pino, { type Logger } from 'pino';

// Structured logs (JSON lines on stderr, so stdout stays for command output). Secrets and raw user
// names never go in a log line: log pseudonyms and ids.

export type { Logger };

export function createLogger(name: string, level = process.env.FAIRWATCH_LOG_LEVEL ?? (process.env.VITEST ? 'warn' : 'info')): Logger {
  return pino({ name, level, base: { pid: process.pid, role: name } }, pino.destination(2));
}
