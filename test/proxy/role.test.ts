import { availableParallelism } from 'node:os';
import { eventsOfEntries } from '../helpers/stream-events.ts';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../core/events/event.ts';
import { managedRedisUrl } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startEcho, startOrigin, type Origin } from './harness.ts';

// The real multi-worker role: `fairwatch proxy` with two worker threads (in one worker process),
// events through the Redis stream, user records from the directory, a worker thread that dies (the
// SIGUSR2 drill ends one at once) and the whole worker process SIGKILLed.

const run = promisify(execFile);
const tmp = tempDir('fw-role-');
let origin: Origin;
let echo: Awaited<ReturnType<typeof startEcho>>;
let server: ReturnType<typeof startCli>;
let port: number;
let redis: Redis;
let env: NodeJS.ProcessEnv;
let metricsUrl = '';
const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(metricsUrl)).text())?.[1] ?? NaN);

/** The proxy's worker process(es) under the role process (its threads serve the port). */
function workerPids(primary: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === primary && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/proxy/worker-process.js');
    } catch {
      return false;
    }
  });
}

const until = <T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000) => pollUntil(fn, ok, timeoutMs, 100);

async function streamEvents(): Promise<AccessEvent[]> {
  const rows = await redis.xrange('fairwatch:events', '-', '+');
  return eventsOfEntries(rows);
}

/** curl through the proxy; `guest` sends from 127.0.0.2, the configured guest network */
function curl(args: string[], guest = false): Promise<string> {
  return run('curl', [...(guest ? ['--interface', '127.0.0.2'] : []), '-sS', '--max-time', '20', '--noproxy', '', '-x', `http://127.0.0.1:${port}`, '-o', '/dev/null', '-w', '%{http_code}', ...args]).then((r) => r.stdout, (e) => (e as { stdout: string }).stdout);
}

beforeAll(async () => {
  origin = await startOrigin();
  echo = await startEcho();
  const cfg = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(cfg, `metrics:\n  port: 0\nproxy:\n  workers: 2\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [443, ${echo.port}]\nidentity:\n  guestNetworks: ["127.0.0.2/32"]\n` +
    // blocked before any name lookup: no test may query real DNS
    'policy:\n  rules:\n    - { categories: [gambling], action: block, clause: "Gambling sites are never acceptable." }\n');
  env = {
    FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0',
    FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
  };
  server = startCli(['proxy'], { env });
  await server.ready;
  const m = /proxy on 127\.0\.0\.1:(\d+) \(2 workers\)/.exec(server.output().stdout);
  expect(m).not.toBeNull();
  port = Number(m![1]);
  metricsUrl = /metrics on (\S+)/.exec(server.output().stdout)![1]!;
  redis = new Redis(managedRedisUrl(env.FAIRWATCH_DATA_DIR!)!);
});
afterAll(async () => {
  redis?.disconnect();
  expect(await server.stop()).toBe(0);
  await origin.close();
  await echo.close();
  tmp.cleanup();
});

describe('fairwatch proxy (two workers)', () => {
  it('answers 407 to an unknown client, and events reach the Redis stream from the workers', async () => {
    expect(await curl([`${origin.url}/small`])).toBe('407');
    const events = await until(streamEvents, (e) => e.some((x) => x.status === 407));
    expect(events.find((x) => x.status === 407)).toMatchObject({ action: 'auth-required', host: '127.0.0.1', path: '/small' });
  });

  it('a user added with the CLI is identified within seconds; a disable takes effect too', async () => {
    const add = await runCli(['users', 'add', '--username', 'rita', '--role', 'staff', '--group', 'volunteers', '--password-stdin'], { env, stdin: 'rita password 1' });
    expect(add.code).toBe(0);
    // identified: a person who has not accepted the acceptable-use statement is sent to it (302)
    const code = await until(() => curl(['--proxy-user', 'rita:rita password 1', `${origin.url}/small`]), (c) => c !== '407');
    expect(code).toBe('302');
    const e = (await until(streamEvents, (ev) => ev.some((x) => x.status === 302))).find((x) => x.status === 302)!;
    expect(e.user_group).toBe('volunteers');
    expect(JSON.stringify(e)).not.toContain('rita');
    expect((await runCli(['users', 'disable', '--username', 'rita'], { env })).code).toBe(0);
    expect(await until(() => curl(['--proxy-user', 'rita:rita password 1', `${origin.url}/small`]), (c) => c === '407')).toBe('407');
  });

  it('the worker process gives V8 the cores its threads leave for garbage-collection helpers (at least one), and holds the C allocator to an arena per thread and two more', () => {
    const [wp] = workerPids(server.child.pid!);
    const args = readFileSync(`/proc/${wp}/cmdline`, 'utf8').split('\0');
    expect(args).toContain(`--v8-pool-size=${Math.max(1, Math.min(4, availableParallelism() - 2))}`);
    expect(args).toContain('--expose-gc');
    // and its C allocator held to an arena per thread and two more (unless the environment sets it)
    const env = readFileSync(`/proc/${wp}/environ`, 'utf8').split('\0');
    expect(env).toContain(`MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 4}`);
  });

  it('guests browse, and a policy block comes from the loaded lists (fixture blocklists)', async () => {
    expect(await curl([`${origin.url}/small`], true)).toBe('200');
    // the fixture lists put bet365.com in gambling; the default rules block it for everyone
    const code = await curl(['http://bet365.com/'], true);
    expect(code).toBe('403');
    const e = (await until(streamEvents, (ev) => ev.some((x) => x.host === 'bet365.com'))).find((x) => x.host === 'bet365.com')!;
    expect(e).toMatchObject({ action: 'block', category: 'gambling' });
  });

  /** CONNECT tunnels to the echo server; SO_REUSEPORT spreads them over the threads by address hash. */
  async function openTunnels(n: number): Promise<Socket[]> {
    const tunnels: Socket[] = [];
    for (let i = 0; i < n; i++) {
      tunnels.push(await new Promise<Socket>((resolve, reject) => {
        const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.once('data', (d: Buffer) => (/^HTTP\/1\.1 200 /.test(d.toString()) ? resolve(s) : reject(new Error(d.toString()))));
        s.on('error', () => {});
        s.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
      }));
    }
    return tunnels;
  }

  function probe(tunnels: Socket[]): Promise<Array<'alive' | 'dead'>> {
    return Promise.all(tunnels.map((s, i) => new Promise<'alive' | 'dead'>((resolve) => {
      const timer = setTimeout(() => resolve('dead'), 5000);
      s.once('close', () => { clearTimeout(timer); resolve('dead'); });
      s.once('data', (d: Buffer) => { clearTimeout(timer); resolve(d.toString() === `ping${i}` ? 'alive' : 'dead'); });
      // give the crash a moment to close the dead thread's sockets before probing
      setTimeout(() => { if (!s.destroyed) s.write(`ping${i}`); }, 500);
    })));
  }

  it('a worker thread that dies (SIGUSR2 drill): the other thread\'s tunnels keep working, a new thread replaces it, and no answered request loses its event', async () => {
    const pids = workerPids(server.child.pid!);
    expect(pids).toHaveLength(1);
    const wp = pids[0]!;
    expect(await metric('fairwatch_proxy_workers')).toBe(2);
    expect(await metric('fairwatch_proxy_worker_restarts_total')).toBe(0);
    // each thread's event sink keeps its own spool directory, named <pid>t<thread>-<id>
    const spool = join(env.FAIRWATCH_DATA_DIR!, 'spool');
    const threadDirs = () => readdirSync(spool).filter((d) => d.startsWith(`${wp}t`));
    const before = await until(threadDirs, (d) => d.length === 2);
    // answered before the crash, on fresh connections (their events are emitted when they close)
    const paths = Array.from({ length: 20 }, (_, i) => `/thread-crash-${i}`);
    for (const p of paths) expect(await curl([`${origin.url}${p}`], true)).toMatch(/^\d{3}$/);
    // sixteen tunnels: all on one thread by chance is 2 in 65536
    const tunnels = await openTunnels(16);
    process.kill(wp, 'SIGUSR2');
    const results = await probe(tunnels);
    expect(results.filter((r) => r === 'alive').length).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r === 'dead').length).toBeGreaterThanOrEqual(1);
    for (const s of tunnels) s.destroy();
    const said = await until(() => { const o = server.output(); return o.stdout + o.stderr; }, (o) => /"thread":(\d+)[^\n]*SIGUSR2/.test(o));
    const dead = Number(/"thread":(\d+)[^\n]*SIGUSR2/.exec(said)![1]);
    expect(said).toMatch(/proxy worker thread died; starting a new one/);
    // a new thread (a new sink directory) took over; the dead thread's directory was adopted and replayed
    await until(threadDirs, (d) => d.some((x) => !before.includes(x)) && !d.some((x) => x.includes(`${wp}t${dead}-`)), 30_000);
    // every request answered before the crash has exactly one event
    const events = await until(streamEvents, (ev) => paths.every((p) => ev.some((e) => e.path === p)));
    for (const p of paths) expect(events.filter((e) => e.path === p)).toHaveLength(1);
    expect(workerPids(server.child.pid!)).toEqual([wp]);
    expect(await curl([`${origin.url}/small`], true)).toBe('200');
    // counted in the worker process, summed into the role process's /metrics
    expect(await until(() => metric('fairwatch_proxy_workers'), (n) => n === 2)).toBe(2);
    expect(await metric('fairwatch_proxy_worker_restarts_total')).toBe(1);
  });

  it('SIGKILL of the worker process: a new one is started on the same port', async () => {
    const pidsBefore = workerPids(server.child.pid!);
    expect(pidsBefore).toHaveLength(1);
    const tunnels = await openTunnels(4);
    process.kill(pidsBefore[0]!, 'SIGKILL');
    // every tunnel was served by a thread of the killed process
    expect(await probe(tunnels)).toEqual(['dead', 'dead', 'dead', 'dead']);
    for (const s of tunnels) s.destroy();
    const pidsAfter = await until(() => workerPids(server.child.pid!), (p) => p.length === 1 && p[0] !== pidsBefore[0], 60_000);
    expect(pidsAfter).toHaveLength(1);
    // and the proxy serves on the same port again
    expect(await until(() => curl([`${origin.url}/small`], true), (c) => c === '200', 30_000), JSON.stringify(server.output()).slice(-3000)).toBe('200');
  });

  it('a second proxy on a port in use fails with one line naming the port, the setting and the fix', async () => {
    const blocker = createServer();
    const busy = await new Promise<number>((r) => blocker.listen(0, '127.0.0.1', () => r((blocker.address() as AddressInfo).port)));
    try {
      const other = tempDir('fw-role2-');
      // this test's running proxy holds its port with SO_REUSEPORT, which another fairwatch could
      // share silently: it must be refused just the same
      for (const taken of [port, busy]) {
        const r = await runCli(['proxy'], { env: { ...env, FAIRWATCH_DATA_DIR: other.dir, FAIRWATCH_PROXY_PORT: String(taken) }, timeoutMs: 60_000 });
        expect(r.code).toBe(1);
        const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('fairwatch:'));
        expect(errors).toEqual([expect.stringMatching(new RegExp(`proxy port ${taken} on 127\\.0\\.0\\.1 is already in use: set proxy\\.port .*FAIRWATCH_PROXY_PORT`))]);
      }
      other.cleanup();
    } finally {
      blocker.close();
    }
  });
});
