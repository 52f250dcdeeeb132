import { Agent, request } from 'node:http';

export interface LoadResult {
  /** paths of requests that got a complete response */
  answered: string[];
  /** requests that failed (connection refused or reset: the proxy was killed) */
  failed: number;
}

/**
 * Sends `count` plain-HTTP requests through the proxy to the local origin, `concurrency` at a time,
 * each to `${prefix}${i}`. `onAnswered(n)` runs after each complete response (fault injection).
 */
export async function proxyLoad(opts: { proxyPort: number | (() => number); originPort: number; prefix: string; count: number; concurrency?: number; onAnswered?: (n: number, answered: readonly string[]) => void | Promise<void>; timeoutMs?: number }): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 8 });
  const answered: string[] = [];
  let failed = 0;
  let next = 0;
  const one = (path: string) => new Promise<boolean>((resolve) => {
    const port = typeof opts.proxyPort === 'function' ? opts.proxyPort() : opts.proxyPort;
    const req = request({ host: '127.0.0.1', port, method: 'GET', path: `http://127.0.0.1:${opts.originPort}${path}`, agent, timeout: opts.timeoutMs ?? 10_000 }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.complete));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
  const worker = async () => {
    while (next < opts.count) {
      const path = `${opts.prefix}${next++}`;
      if (await one(path)) {
        answered.push(path);
        await opts.onAnswered?.(answered.length, answered);
      } else failed++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  agent.destroy();
  return { answered, failed };
}
