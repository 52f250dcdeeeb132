// Proxy benchmark: direct vs fairwatch vs Squid, all measured in one run on this machine.
//
//   node --import tsx bench/proxy.ts            # ~3 s per cell
//   BENCH_SECONDS=5 node --import tsx bench/proxy.ts
//   BENCH_LISTS=/path/to/ut1 node --import tsx bench/proxy.ts   # policy over a full list set
//
// - origin: bench/lib/origin-server.mjs in its own process on 127.0.0.1
// - fairwatch: the real `fairwatch proxy` role (workers = CPU count, events on: every request is
//   written to the Redis stream by the workers' sinks), policy loaded from ./blocklists
// - Squid: Debian's squid, started here on 127.0.0.1 with its own temp config, access log on,
//   cache off
// - fairwatch 1 process: the same proxy code in this process with events to memory (no workers,
//   no Redis), to separate what the proxy costs from what the role around it costs
// - load: ApacheBench (`ab -k -X proxy`), 1 KiB object at concurrency 1, 10, 100; curl for a 50 MB
//   download over plain HTTP and through CONNECT (`--proxytunnel`)
// Everything stays on loopback (FAIRWATCH_DIAL_LOOPBACK_ONLY=1; Squid gets IP literals only and a
// loopback name server).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../core/config/load.ts';
import { MemorySink } from '../core/events/event.ts';
import { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { allowAll } from '../core/policy/types.ts';
import { freePort } from '../core/storage/redis.ts';
import { CredentialStore } from '../proxy/credentials.ts';
import { createProxyServer } from '../proxy/server.ts';
import { tempDir } from '../test/helpers/tmp.ts';

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

async function startOrigin(): Promise<number> {
  const { match } = await startChild(process.execPath, [join(ROOT, 'bench/lib/origin-server.mjs')], /port (\d+)/);
  return Number(match[1]);
}

async function startFairwatch(originPort: number): Promise<{ port: number; pid: number }> {
  const cfg = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(cfg, `proxy:\n  workers: 0\n  allowDestinations: ["127.0.0.1"]\n  connectPorts: [443, ${originPort}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`);
  const env = {
    ...process.env, FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0',
    FAIRWATCH_DIAL_LOOPBACK_ONLY: '1', FAIRWATCH_LOG_LEVEL: 'error', FAIRWATCH_BLOCKLISTS: process.env.BENCH_LISTS ?? join(ROOT, 'blocklists'),
  };
  const { child, match } = await startChild(process.execPath, [join(ROOT, 'bin/fairwatch'), 'proxy'], /proxy on 127\.0\.0\.1:(\d+)[\s\S]*Press Ctrl-C/, env);
  return { port: Number(match[1]), pid: child.pid! };
}

/** The same proxy code in this (otherwise idle) process, events to memory: what one process costs. */
async function startInProcess(originPort: number): Promise<number> {
  const config = parseConfig(`proxy:\n  allowDestinations: ["127.0.0.1"]\n  connectPorts: [${originPort}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`, 'bench.yaml');
  const proxy = createProxyServer({ config, engine: () => allowAll, sink: new MemorySink(), credentials: new CredentialStore([]), pseudonyms: new Pseudonymiser(randomBytes(32)) });
  return (await proxy.listen(0, '127.0.0.1')).port;
}

async function startSquid(originPort: number): Promise<number> {
  const port = await freePort();
  const dir = join(tmp.dir, 'squid');
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  chmodSync(dir, 0o777);
  const conf = join(dir, 'squid.conf');
  writeFileSync(conf, [
    `http_port 127.0.0.1:${port}`,
    'acl localhost src 127.0.0.1/32',
    `acl bench_ports port ${originPort} 443`,
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
      const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${originPort}/1k`]);
      if (r.stdout === '200') return port;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`squid did not start; see ${join(dir, 'cache.log')}`);
}

interface AbResult { rps: number; p50: number; p99: number; failed: number }

async function ab(url: string, c: number, proxyPort: number | null): Promise<AbResult> {
  const args = ['-q', '-k', '-t', String(SECONDS), '-n', '10000000', '-c', String(c), ...(proxyPort ? ['-X', `127.0.0.1:${proxyPort}`] : []), url];
  const { stdout } = await run('ab', args, { maxBuffer: 1 << 24, timeout: (SECONDS + 30) * 1000 });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
  const non2xx = num(/Non-2xx responses:\s+(\d+)/);
  return {
    rps: num(/Requests per second:\s+([\d.]+)/),
    p50: num(/^\s+50%\s+(\d+)/m),
    p99: num(/^\s+99%\s+(\d+)/m),
    failed: num(/Failed requests:\s+(\d+)/) + (Number.isNaN(non2xx) ? 0 : non2xx),
  };
}

async function mbps(url: string, proxyPort: number | null, tunnel: boolean): Promise<number> {
  const speeds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{speed_download}', '--max-time', '60', ...(proxyPort ? ['-x', `http://127.0.0.1:${proxyPort}`] : []), ...(tunnel ? ['--proxytunnel'] : []), url];
    const { stdout } = await run('curl', args);
    const [code, speed] = stdout.split(' ');
    if (code !== '200') throw new Error(`${url} via ${proxyPort} gave ${code}`);
    speeds.push(Number(speed) / 2 ** 20);
  }
  return speeds.sort((a, b) => a - b)[1]!;
}

function workerRss(primary: number): Array<{ pid: number; rssMB: number; peakMB: number }> {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).flatMap((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== primary) return [];
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('proxy/worker.ts')) return [];
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
  console.log(`proxy benchmark: ${SECONDS} s per cell, ${availableParallelism()} CPUs (shared with other work: numbers are indicative)`);
  const originPort = await startOrigin();
  const fw = await startFairwatch(originPort);
  const squidPort = await startSquid(originPort);
  const oneProcess = await startInProcess(originPort);
  const small = `http://127.0.0.1:${originPort}/1k`;
  const targets: Array<[string, number | null]> = [['direct', null], ['fairwatch', fw.port], ['fairwatch 1 process', oneProcess], ['squid', squidPort]];
  // warm-up: pools, JIT, list caches
  for (const [, p] of targets) await ab(small, 10, p).catch(() => undefined);

  const rows: string[] = [];
  rows.push('| 1 KiB object | c | req/s | p50 ms | p99 ms | errors | req/s vs Squid | req/s vs direct |');
  rows.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of [1, 10, 100]) {
    const r: Record<string, AbResult> = {};
    for (const [name, p] of targets) r[name] = await ab(small, c, p);
    for (const [name] of targets) {
      const x = r[name]!;
      rows.push(`| ${name} | ${c} | ${f1(x.rps)} | ${x.p50} | ${x.p99} | ${x.failed} | ${f2(x.rps / r.squid!.rps)} | ${f2(x.rps / r.direct!.rps)} |`);
    }
  }
  const big = `http://127.0.0.1:${originPort}/bytes?n=${50 * 2 ** 20}`;
  rows.push('');
  rows.push('| 50 MB download | MB/s | vs Squid | vs direct |');
  rows.push('| --- | ---: | ---: | ---: |');
  const direct = await mbps(big, null, false);
  rows.push(`| direct | ${f1(direct)} | | 1.00 |`);
  for (const tunnel of [false, true]) {
    const fwSpeed = await mbps(big, fw.port, tunnel);
    const oneSpeed = await mbps(big, oneProcess, tunnel);
    const sqSpeed = await mbps(big, squidPort, tunnel);
    const how = tunnel ? 'CONNECT' : 'HTTP';
    rows.push(`| fairwatch ${how} | ${f1(fwSpeed)} | ${f2(fwSpeed / sqSpeed)} | ${f2(fwSpeed / direct)} |`);
    rows.push(`| fairwatch 1 process ${how} | ${f1(oneSpeed)} | ${f2(oneSpeed / sqSpeed)} | ${f2(oneSpeed / direct)} |`);
    rows.push(`| squid ${how} | ${f1(sqSpeed)} | 1.00 | ${f2(sqSpeed / direct)} |`);
  }
  const rss = workerRss(fw.pid);
  rows.push('');
  rows.push(`fairwatch workers: ${rss.map((w) => `${f1(w.rssMB)} MB now, ${f1(w.peakMB)} MB peak`).join('; ')}`);
  console.log(rows.join('\n'));
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
