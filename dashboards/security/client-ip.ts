import type { Context } from 'hono';

/** The peer address of the request (the node server's socket); 'local' for in-process requests. */
export function clientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}
