import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type TestProxy } from './harness.ts';

// An origin that closes idle keep-alive connections after 300 ms (Node's default is 5 s; many
// servers use less). The proxy keeps a pool of origin connections: one the origin has closed must
// not be used for the next request (it used to hang until the upstream timeout).

const run = promisify(execFile);
let origin: Server;
let originPort = 0;
const originSockets = new Set<Socket>();
let px: TestProxy;

beforeAll(async () => {
  origin = createServer({ keepAliveTimeout: 300 }, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`hello ${req.url}`);
  });
  origin.on('connection', (s: Socket) => {
    originSockets.add(s);
    s.once('close', () => originSockets.delete(s));
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  originPort = (origin.address() as AddressInfo).port;
  // a short upstream timeout, so a hang shows as a failure within this test's time
  px = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  upstreamTimeoutSeconds: 20\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n' });
});
afterAll(async () => {
  await px.close();
  origin.closeAllConnections();
  await new Promise((r) => origin.close(r));
});

async function curl(path: string): Promise<{ stdout: string; code: number }> {
  try {
    const r = await run('curl', ['-sS', '--max-time', '8', '--noproxy', '', '-x', px.url, '-w', ' %{http_code}', `http://127.0.0.1:${originPort}${path}`]);
    return { stdout: r.stdout, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; code?: number };
    return { stdout: err.stdout ?? '', code: err.code ?? 1 };
  }
}

/** Waits (bounded) until the origin has no open connection: it has closed the idle one. */
async function originIdleClosed(timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (originSockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return originSockets.size === 0;
}

describe('pooled origin connections', () => {
  it('a request after the origin closed the idle keep-alive connection is answered', async () => {
    expect(await curl('/first')).toEqual({ stdout: 'hello /first 200', code: 0 });
    // the origin closes its side after 300 ms idle; wait until it has, then a little longer
    expect(await originIdleClosed()).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(await curl('/second')).toEqual({ stdout: 'hello /second 200', code: 0 });
    const events = await px.events(2);
    expect(events.map((e) => [e.path, e.status])).toEqual([['/first', 200], ['/second', 200]]);
  }, 30_000);

  it('several rounds of use, idle past the origin timeout, use again all succeed', async () => {
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all([curl(`/r${round}a`), curl(`/r${round}b`)]);
      expect(answers).toEqual([{ stdout: `hello /r${round}a 200`, code: 0 }, { stdout: `hello /r${round}b 200`, code: 0 }]);
      expect(await originIdleClosed()).toBe(true);
    }
  }, 60_000);
});

describe('an origin closing a pooled connection just as it is reused', () => {
  // Deterministic stand-in for the race: this origin resets every connection on its second request,
  // as one that timed out the idle connection at that very moment would.
  let racy: Server;
  let racyPort = 0;
  const bodies: string[] = [];
  beforeAll(async () => {
    racy = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      const s = req.socket as Socket & { served?: number };
      s.served = (s.served ?? 0) + 1;
      if (s.served > 1) {
        s.resetAndDestroy();
        return;
      }
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${body}`);
        res.end(`fresh ${req.url}`);
      });
    });
    await new Promise<void>((r) => racy.listen(0, '127.0.0.1', r));
    racyPort = (racy.address() as AddressInfo).port;
  });
  afterAll(async () => {
    racy.closeAllConnections();
    await new Promise((r) => racy.close(r));
  });

  const through = async (args: string[]) => {
    try {
      return (await run('curl', ['-sS', '--max-time', '8', '--noproxy', '', '-x', px.url, '-w', ' %{http_code}', ...args])).stdout;
    } catch (e) {
      return (e as { stdout?: string }).stdout ?? '';
    }
  };

  it('a GET that meets a reset on a reused connection is sent once more on a new one, and flagged', async () => {
    expect(await through([`http://127.0.0.1:${racyPort}/one`])).toBe('fresh /one 200');
    expect(await through([`http://127.0.0.1:${racyPort}/two`])).toBe('fresh /two 200');
    const ev = await px.find((e) => e.path === '/two');
    expect(ev).toMatchObject({ status: 200 });
    expect(ev!.flags).toContain('retried-stale-connection');
  }, 30_000);

  it('a POST with a body is not sent twice: the reset is a 502', async () => {
    expect(await through([`http://127.0.0.1:${racyPort}/three`])).toBe('fresh /three 200');
    const before = bodies.length;
    const out = await through(['--data', 'pay=1', `http://127.0.0.1:${racyPort}/pay`]);
    expect(out.endsWith(' 502')).toBe(true);
    expect(bodies.length).toBe(before);
  }, 30_000);
});
