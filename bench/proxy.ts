// Proxy benchmark: direct vs fairwatch vs Squid, all measured in one run on this machine.
//
//   node --import tsx bench/proxy.ts            # ~3 s per cell
//   BENCH_SECONDS=5 node --import tsx bench/proxy.ts
//   BENCH_LISTS=/path/to/ut1 node --import tsx bench/proxy.ts   # policy over a full list set
//   BENCH_LISTS=full …                # UT1 topped up to full size (5.5M names, bench/lib/full-lists.ts)
//   BENCH_BASELINE=/path/to/checkout … # that checkout's (built) `fairwatch proxy` too, alternating
//   BENCH_WORKERS=2 …                 # proxy.workers (default 0: one per CPU)
//
// - origin: bench/lib/origin-server.mjs in its own process on 127.0.0.1
// - fairwatch: the real `fairwatch proxy` role (workers = CPU count, events on: every request is
//   written to the Redis stream by the workers' sinks), policy loaded from ./blocklists; memory is
//   the RSS of its worker processes (one since the workers are threads; one per worker before)
// - Squid: Debian's squid, started here on 127.0.0.1 with its own temp config, access log on,
//   cache off
// - fairwatch 1 process: the same proxy code in this process with events counted, not kept (no
//   workers, no Redis), to separate what the proxy costs from what the role around it costs
// - load: wrk (one thread, keep-alive, absolute-form request lines through the proxy; latency
//   percentiles to 0.01 ms), 1 KiB object at concurrency 10 and 100, each cell run ROUNDS times with
//   the targets alternating, medians reported; curl for a 200 MB download over plain HTTP, over
//   HTTPS through CONNECT (the origin's self-signed certificate passed to curl), and as plain bytes
//   through CONNECT (`--proxytunnel`)
// - minimal relay: bench/lib/min-relay.c, compiled here with the system's cc (skipped without one),
//   copies a tunnel's bytes with read/write and does nothing else: the ceiling for any relay on
//   this machine, printed beside the CONNECT rows
// - minimal Node proxy: bench/lib/min-node-proxy.mjs, one thread: Node's http.Server and undici's
//   Pool with nothing else (no policy, identity or events): the ceiling for a proxy on this runtime,
//   printed beside the 1 KiB rows
// - goals (issue "Proxy data path at Squid's speed"): printed as PASS/UNDER beside the figures
// Everything stays on loopback (FAIRWATCH_DIAL_LOOPBACK_ONLY=1; Squid gets IP literals only and a
// loopback name server).
import { blockOnlyHooks } from '../test/helpers/block-hooks.ts';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../core/config/load.ts';
import type { EventSink } from '../core/events/event.ts';
import { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { allowAll } from '../core/policy/types.ts';
import { freePort } from '../core/storage/redis.ts';
import { CredentialStore } from '../proxy/credentials.ts';
import { createProxyServer } from '../proxy/server.ts';
import { tempDir } from '../test/helpers/tmp.ts';
import { prepareLists } from './lib/full-lists.ts';
import { loadListsInThread } from '../core/policy/lists-thread.ts';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROOT = join(import.meta.dirname, '..');
const tmp = tempDir('fw-bench-proxy-');
chmodSync(tmp.dir, 0o777);
const children: ChildProcess[] = [];

function startChild(cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env, timeoutMs = 90_000): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready: ${out}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, match: m }); }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', (d: Buffer) => { if (process.env.BENCH_VERBOSE) process.stderr.write(d); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited ${code}: ${out}`)); });
  });
}

interface Origin { port: number; tlsPort: number; cert: string }

/** The origin, over HTTP and HTTPS (a self-signed certificate for 127.0.0.1 that curl is told to trust). */
async function startOrigin(): Promise<Origin> {
  const cert = join(tmp.dir, 'origin-cert.pem'), key = join(tmp.dir, 'origin-key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  const env = { ...process.env, ORIGIN_TLS_CERT: cert, ORIGIN_TLS_KEY: key };
  const { match } = await startChild(process.execPath, [join(ROOT, 'bench/lib/origin-server.mjs')], /port (\d+) tls (\d+)/, env);
  return { port: Number(match[1]), tlsPort: Number(match[2]), cert };
}

const LISTS = process.env.BENCH_LISTS === 'full' ? prepareLists() : process.env.BENCH_LISTS;

async function startFairwatch(origin: Origin, root = ROOT, name = 'fw'): Promise<{ port: number; pid: number }> {
  const cfg = join(tmp.dir, `${name}.yaml`);
  // the origins are reached by address: proxy.ipTunnels lets them through (it refuses bare IPs by
  // default); a baseline checkout from before that key would refuse it as unknown
  const ipTunnels = readFileSync(join(root, 'core/config/schema.ts'), 'utf8').includes('ipTunnels') ? '  ipTunnels: allow\n' : '';
  writeFileSync(cfg, `proxy:\n  workers: ${Number(process.env.BENCH_WORKERS ?? 0)}\n  allowDestinations: ["127.0.0.1"]\n${ipTunnels}  connectPorts: [443, ${origin.port}, ${origin.tlsPort}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`);
  const env = {
    ...process.env, FAIRWATCH_DATA_DIR: join(tmp.dir, `data-${name}`), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0',
    FAIRWATCH_DIAL_LOOPBACK_ONLY: '1', FAIRWATCH_LOG_LEVEL: 'error', FAIRWATCH_BLOCKLISTS: LISTS ?? join(ROOT, 'blocklists'),
  };
  const { child, match } = await startChild(process.execPath, [join(root, 'bin/fairwatch'), 'proxy'], /proxy on 127\.0\.0\.1:(\d+)[\s\S]*Press Ctrl-C/, env);
  return { port: Number(match[1]), pid: child.pid! };
}

/** Counts events and keeps none: a sink that held every event would grow this process's heap for the whole run. */
const countingSink: EventSink & { count: number } = { count: 0, emit() { this.count++; }, async flush() {}, async close() {} };

/** The same proxy code in this (otherwise idle) process, events counted only: what one process costs. */
async function startInProcess(origin: Origin): Promise<number> {
  const config = parseConfig(`proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${origin.port}, ${origin.tlsPort}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`, 'bench.yaml');
  const proxy = createProxyServer({ hooks: blockOnlyHooks, config, engine: () => allowAll, sink: countingSink, credentials: new CredentialStore([]), pseudonyms: new Pseudonymiser(randomBytes(32)) });
  return (await proxy.listen(0, '127.0.0.1')).port;
}

async function startSquid(origin: Origin): Promise<number> {
  const port = await freePort();
  const dir = join(tmp.dir, 'squid');
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  chmodSync(dir, 0o777);
  const conf = join(dir, 'squid.conf');
  writeFileSync(conf, [
    `http_port 127.0.0.1:${port}`,
    'acl localhost src 127.0.0.1/32',
    `acl bench_ports port ${origin.port} ${origin.tlsPort} 443`,
    'acl CONNECT method CONNECT',
    'http_access deny !localhost',
    'http_access deny CONNECT !bench_ports',
    'http_access allow localhost',
    'http_access deny all',
    'cache deny all',
    'cache_mem 0 MB',
    `access_log stdio:${join(dir, 'access.log')} squid`,
    `cache_log ${join(dir, 'cache.log')}`,
    `pid_filename ${join(dir, 'squid.pid')}`,
    `coredump_dir ${dir}`,
    'visible_hostname bench.localhost',
    'dns_nameservers 127.0.0.1',
    'shutdown_lifetime 1 seconds',
    'forwarded_for delete',
    'via off',
    '',
  ].join('\n'));
  const child = spawn('/usr/sbin/squid', ['-N', '-f', conf], { stdio: 'ignore' });
  children.push(child);
  for (let i = 0; i < 100; i++) {
    try {
      const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/1k`]);
      if (r.stdout === '200') return port;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`squid did not start; see ${join(dir, 'cache.log')}`);
}

const QUIET_WAIT_MS = 45_000;

/** bench/lib/min-relay.c, built and started; null (and a line saying why) when there is no C compiler */
async function startMinimalRelay(): Promise<number | null> {
  const bin = join(tmp.dir, 'min-relay');
  try {
    await run('cc', ['-O2', '-o', bin, join(ROOT, 'bench', 'lib', 'min-relay.c')]);
  } catch (e) {
    console.log(`minimal relay not built (${(e as Error).message.split('\n')[0]}): its rows are left out`);
    return null;
  }
  const port = await freePort();
  await startChild(bin, [String(port)], /listening/);
  return port;
}

/** bench/lib/min-node-proxy.mjs on this Node.js */
async function startMinimalNodeProxy(): Promise<number> {
  const { match } = await startChild(process.execPath, [join(ROOT, 'bench', 'lib', 'min-node-proxy.mjs')], /listening (\d+)/);
  return Number(match[1]);
}

interface LoadResult { rps: number; p50: number; p99: number; failed: number }

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** wrk through a proxy: the script sends absolute-form request lines to the proxy's address. */
async function load(url: string, c: number, proxyPort: number | null): Promise<LoadResult> {
  const script = join(tmp.dir, 'absolute.lua');
  writeFileSync(script, `wrk.path = ${JSON.stringify(url)}\nrequest = function() return wrk.format("GET", ${JSON.stringify(url)}) end\n`);
  const target = proxyPort ? `http://127.0.0.1:${proxyPort}` : new URL(url).origin;
  const args = ['-t1', `-c${c}`, `-d${SECONDS}s`, '--latency', ...(proxyPort ? ['-s', script] : []), proxyPort ? target : url];
  const { stdout } = await run('wrk', args, { maxBuffer: 1 << 24, timeout: (SECONDS + 30) * 1000 });
  const ms = (re: RegExp) => {
    const m = re.exec(stdout);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN),
    p50: ms(/^\s+50%\s+([\d.]+)(us|ms|s)/m),
    p99: ms(/^\s+99%\s+([\d.]+)(us|ms|s)/m),
    failed: non2xx + (errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * curl's download speed (median of 3). An https:// URL goes through the proxy by CONNECT, as a
 * browser's would; `tunnel` sends a plain http:// download through CONNECT too (curl --proxytunnel).
 */
async function mbps(url: string, proxyPort: number | null, tunnel: boolean, cacert?: string): Promise<number> {
  const speeds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{speed_download}', '--max-time', '60', ...(cacert ? ['--cacert', cacert] : []), ...(proxyPort ? ['-x', `http://127.0.0.1:${proxyPort}`] : []), ...(tunnel ? ['--proxytunnel'] : []), url];
    const { stdout } = await run('curl', args);
    const [code, speed] = stdout.split(' ');
    if (code !== '200') throw new Error(`${url} via ${proxyPort} gave ${code}`);
    speeds.push(Number(speed) / 2 ** 20);
  }
  return speeds.sort((a, b) => a - b)[1]!;
}

/** The proxy worker processes below `root` (bin/fairwatch may re-run itself on the packaged Node.js first). */
function workerRss(root: number): Array<{ pid: number; rssMB: number; peakMB: number }> {
  const parentOf = new Map<number, number>();
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parentOf.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const below = (pid: number): boolean => {
    for (let p = parentOf.get(pid), depth = 0; p !== undefined && depth < 10; p = parentOf.get(p), depth++) if (p === root) return true;
    return false;
  };
  return [...parentOf.keys()].filter(below).flatMap((pid) => {
    try {
      if (!/proxy\/worker(-process)?\.(ts|js)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) return [];
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
      return [{ pid, rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 }];
    } catch {
      return [];
    }
  });
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

async function main(): Promise<void> {
  process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY = '1';
  console.log(`proxy benchmark: ${SECONDS} s per cell, ${ROUNDS} rounds alternating, ${availableParallelism()} CPUs, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at start (numbers are indicative on a shared machine)`);
  console.log(autogroupNote());
  const origin = await startOrigin();
  const fw = await startFairwatch(origin);
  const baseline = process.env.BENCH_BASELINE ? await startFairwatch(origin, process.env.BENCH_BASELINE, 'baseline') : null;
  const squidPort = await startSquid(origin);
  const oneProcess = await startInProcess(origin);
  const minRelay = await startMinimalRelay();
  const minNode = await startMinimalNodeProxy();
  const small = `http://127.0.0.1:${origin.port}/1k`;
  const targets: Array<[string, number | null]> = [['direct', null], ['fairwatch', fw.port], ...(baseline ? [['fairwatch baseline', baseline.port] as [string, number]] : []), ['fairwatch 1 process', oneProcess], ['minimal Node proxy', minNode], ['squid', squidPort]];
  // warm-up: pools, JIT, list caches
  for (const [, p] of targets) await load(small, 10, p).catch(() => undefined);

  const rows: string[] = [];
  const goals: string[] = [];
  rows.push('| 1 KiB object | c | req/s | p50 ms | p99 ms | errors | req/s vs Squid | req/s vs direct |');
  rows.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const at: Record<number, Record<string, LoadResult>> = {};
  for (const c of [10, 100]) {
    const runs: Record<string, LoadResult[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // alternate the order each round so no target always runs first or last
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const [name, p] of order) (runs[name] ??= []).push(await load(small, c, p));
    }
    const r: Record<string, LoadResult> = {};
    for (const [name] of targets) {
      const xs = runs[name]!;
      r[name] = { rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)), failed: xs.reduce((n, x) => n + x.failed, 0) };
    }
    at[c] = r;
    for (const [name] of targets) {
      const x = r[name]!;
      const spread = `${f1(Math.min(...runs[name]!.map((y) => y.rps)))}–${f1(Math.max(...runs[name]!.map((y) => y.rps)))}`;
      rows.push(`| ${name} | ${c} | ${f1(x.rps)} (${spread}) | ${f2(x.p50)} | ${f2(x.p99)} | ${x.failed} | ${f2(x.rps / r.squid!.rps)} | ${f2(x.rps / r.direct!.rps)} |`);
    }
  }
  const fw100 = at[100]!.fairwatch!, sq100 = at[100]!.squid!, fw10 = at[10]!.fairwatch!, sq10 = at[10]!.squid!;
  goals.push(goal('req/s at c=100 >= 0.8x Squid', fw100.rps / sq100.rps >= 0.8, `${f2(fw100.rps / sq100.rps)}x`));
  goals.push(goal('median latency at c=10 <= Squid + 0.5 ms', fw10.p50 <= sq10.p50 + 0.5, `${f2(fw10.p50)} vs ${f2(sq10.p50)} ms`));
  goals.push(goal('p99 at c=10 <= Squid + 3 ms', fw10.p99 <= sq10.p99 + 3, `${f2(fw10.p99)} vs ${f2(sq10.p99)} ms`));
  const floor = (c: number) => `${f2(at[c]!.fairwatch!.rps / at[c]!['minimal Node proxy']!.rps)}x at c=${c}`;
  rows.push('', `fairwatch against the minimal Node proxy (one thread, no policy or events): req/s ${floor(10)}, ${floor(100)}`);

  const size = 200 * 2 ** 20;
  const big = `http://127.0.0.1:${origin.port}/bytes?n=${size}`;
  const bigTls = `https://127.0.0.1:${origin.tlsPort}/bytes?n=${size}`;
  rows.push('');
  rows.push('| 200 MB download | MB/s | vs Squid | vs direct |');
  rows.push('| --- | ---: | ---: | ---: |');
  // three kinds: plain HTTP through the proxy; HTTPS through CONNECT, what a browser's downloads
  // nearly always are (the goal's figure); plain bytes through CONNECT, the relay alone
  const kinds = [
    { how: 'HTTP', url: big, tunnel: false, cacert: undefined },
    { how: 'HTTPS (CONNECT)', url: bigTls, tunnel: false, cacert: origin.cert },
    { how: 'plain bytes through CONNECT', url: big, tunnel: true, cacert: undefined },
  ];
  for (const k of kinds) {
    const direct = await mbps(k.url, null, false, k.cacert);
    const fwSpeed = await mbps(k.url, fw.port, k.tunnel, k.cacert);
    // through the baseline too, so that the two builds' memory afterwards compares like with like
    const baseSpeed = baseline ? await mbps(k.url, baseline.port, k.tunnel, k.cacert) : NaN;
    const oneSpeed = await mbps(k.url, oneProcess, k.tunnel, k.cacert);
    const sqSpeed = await mbps(k.url, squidPort, k.tunnel, k.cacert);
    const relayed = k.how !== 'HTTP' && minRelay !== null;
    const minSpeed = relayed ? await mbps(k.url, minRelay, k.tunnel, k.cacert) : NaN;
    rows.push(`| direct ${k.how} | ${f1(direct)} | ${f2(direct / sqSpeed)} | 1.00 |`);
    rows.push(`| fairwatch ${k.how} | ${f1(fwSpeed)} | ${f2(fwSpeed / sqSpeed)} | ${f2(fwSpeed / direct)} |`);
    if (baseline) rows.push(`| fairwatch baseline ${k.how} | ${f1(baseSpeed)} | ${f2(baseSpeed / sqSpeed)} | ${f2(baseSpeed / direct)} |`);
    rows.push(`| fairwatch 1 process ${k.how} | ${f1(oneSpeed)} | ${f2(oneSpeed / sqSpeed)} | ${f2(oneSpeed / direct)} |`);
    rows.push(`| squid ${k.how} | ${f1(sqSpeed)} | 1.00 | ${f2(sqSpeed / direct)} |`);
    if (relayed) rows.push(`| minimal C relay ${k.how} | ${f1(minSpeed)} | ${f2(minSpeed / sqSpeed)} | ${f2(minSpeed / direct)} |`);
    if (k.how === 'HTTP') goals.push(goal('HTTP download >= 1.2x Squid', fwSpeed / sqSpeed >= 1.2, `${f2(fwSpeed / sqSpeed)}x`));
    if (k.how === 'HTTPS (CONNECT)') {
      const beside = `Squid ${f2(sqSpeed / direct)}x${relayed ? `, minimal C relay ${f2(minSpeed / direct)}x; fairwatch = ${f2(fwSpeed / minSpeed)}x the minimal relay` : ''}`;
      goals.push(goal('CONNECT throughput (HTTPS download) >= 0.9x direct', fwSpeed / direct >= 0.9, `${f2(fwSpeed / direct)}x (${beside})`));
    }
  }
  rows.push('');
  const memory = (name: string, pid: number, when: string) => {
    const rss = workerRss(pid);
    const total = rss.reduce((n, w) => n + w.rssMB, 0);
    rows.push(`${name} worker processes ${when}: ${rss.map((w) => `${f1(w.rssMB)} MB now, ${f1(w.peakMB)} MB peak`).join('; ')} (together ${f1(total)} MB; lists from ${LISTS ?? 'the starter set'})`);
    return total;
  };
  const loaded = memory('fairwatch', fw.pid, 'just after the load');
  if (baseline) memory('fairwatch baseline', baseline.pid, 'just after the load');
  // and again once quiet: a worker thread quiet for 30 s gives a burst's heap back (proxy/idle-memory.ts)
  await new Promise((r) => setTimeout(r, QUIET_WAIT_MS));
  const quiet = memory('fairwatch', fw.pid, `after ${QUIET_WAIT_MS / 1000} s quiet`);
  if (baseline) memory('fairwatch baseline', baseline.pid, `after ${QUIET_WAIT_MS / 1000} s quiet`);
  if (LISTS) {
    goals.push(goal('workers together <= 450 MB RSS with the given lists, quiet after the load', quiet <= 450, `${f1(quiet)} MB`));
    goals.push(goal('workers together <= 450 MB RSS with the given lists, just after the load', loaded <= 450, `${f1(loaded)} MB`));
    // what a reload does before the swap: compile the directory in a thread into shared memory
    const started = performance.now();
    const lists = await loadListsInThread(LISTS);
    rows.push(`list reload (compile ${lists.table.count} names in a compiler thread): ${f1((performance.now() - started) / 1000)} s`);
  }
  console.log(rows.join('\n'));
  console.log('\ngoals:\n' + goals.join('\n'));
}

/**
 * Linux's autogroup scheduling shares the CPU between sessions before threads. Everything here is
 * started from this process, so it is one session and the proxies' threads compete one by one; a
 * proxy started from another terminal (or with setsid) gets one session's share for all its
 * threads, and its figures change (docs/benchmarks.md, "Two workers, measured in one session").
 */
function autogroupNote(): string {
  let on = '';
  try {
    on = readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim();
  } catch { /* not Linux, or no such setting */ }
  return on === '1'
    ? 'scheduler: autogroup on; origin, proxies and wrk all run in this benchmark\'s session, so they share the CPU thread by thread'
    : `scheduler: autogroup ${on === '0' ? 'off' : 'not reported'}`;
}

function goal(what: string, ok: boolean, value: string): string {
  return `  ${ok ? 'PASS ' : 'UNDER'}  ${what}: ${value}`;
}

try {
  await main();
} finally {
  for (const c of children.reverse()) if (c.exitCode === null) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1500));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  tmp.cleanup();
}
// Pools, agents and timers of the clients above must not keep a finished benchmark alive.
process.exit(process.exitCode ?? 0);
