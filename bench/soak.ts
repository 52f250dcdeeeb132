// `npm run soak`: the real `fairwatch start` (compiled, as `npm run up` runs it)
// under sustained proxy load for minutes while faults are injected on a schedule: the managed
// redis-server SIGKILLed, a proxy worker SIGKILLed, the primary (ingester, supervisor, console)
// stopped with SIGSTOP and continued a few seconds later. At the end: answered requests against
// stored events (exact counts, no duplicates, via `fairwatch events count` through the control
// socket), RSS of the primary and the workers (first, last, max, trend), spool and stream lag.
//
//   npm run soak                               # 240 s, 80 requests/s, a fault every 20 s
//   SOAK_SECONDS=600 SOAK_RPS=150 npm run soak
//
// Exits non-zero when a count does not match or memory grows without bound. Not part of npm test.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spoolBytes } from '../core/events/spool-size.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 240);
const RPS = Number(process.env.SOAK_RPS ?? 80);
const FAULT_EVERY_S = Number(process.env.SOAK_FAULT_EVERY ?? 20);
const STOP_PRIMARY_S = 3;
const SAMPLE_EVERY_MS = 2000;
const CONCURRENCY = 8;
const DRAIN_MAX_MS = 180_000;
const BIN = join(import.meta.dirname, '..', 'bin', 'fairwatch');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

// --- the origin, in this process (it answers quickly and is not what is measured)
const origin = createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 }); res.end('ok'); });
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
const originPort = (origin.address() as { port: number }).port;

// --- fairwatch start on a fresh data directory
const dir = mkdtempSync(join(tmpdir(), 'fw-soak-'));
const cfg = join(dir, 'fairwatch.yaml');
writeFileSync(cfg, 'proxy:\n  workers: 2\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\nmetrics:\n  port: 0\npipeline:\n  claimIdleSeconds: 5\n');
const env = {
  ...process.env, FAIRWATCH_LOG_LEVEL: 'warn', FAIRWATCH_DATA_DIR: join(dir, 'data'), FAIRWATCH_CONFIG: cfg,
  FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0', FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
  FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'test', 'fixtures', 'blocklists'),
};
const fw = spawn(process.execPath, [BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
let err = '';
fw.stdout.on('data', (d) => { out += d; });
fw.stderr.on('data', (d) => { err += d; });
const started = Date.now();
while (!/Press Ctrl-C to stop/.test(out)) {
  if (fw.exitCode !== null || Date.now() - started > 180_000) throw new Error(`fairwatch start did not come up\n${out}\n${err}`);
  await sleep(100);
}
const proxyPort = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
const metricsUrl = /metrics on (\S+)/.exec(out)![1]!;
const primary = fw.pid!;
log(`fairwatch start up: primary ${primary}, proxy :${proxyPort}, data ${env.FAIRWATCH_DATA_DIR}`);

const children = (pid: number): number[] => {
  const ids: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) ids.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch { /* gone */ }
  return ids;
};
const cmdline = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; } };
const workers = () => children(primary).filter((p) => !cmdline(p).includes('redis-server'));
const redisPid = () => (JSON.parse(readFileSync(join(env.FAIRWATCH_DATA_DIR, 'redis', 'managed.json'), 'utf8')) as { pid: number }).pid;
const rssMB = (pid: number) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024; } catch { return NaN; } };
const metric = async (name: string) => {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(3000) })).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  } catch { return NaN; }
};

// --- load: RPS requests a second, CONCURRENCY at a time, each to a path of its own
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
let sent = 0;
let answered = 0;
let failed = 0;
let inflight = 0;
const one = (path: string) => new Promise<boolean>((resolve) => {
  const req = request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: `http://127.0.0.1:${originPort}${path}`, agent, timeout: 15_000 }, (res) => {
    res.on('data', () => {});
    res.on('end', () => resolve(res.complete && res.statusCode === 200));
    res.on('error', () => resolve(false));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => resolve(false));
  req.end();
});
const loadUntil = t0 + SECONDS * 1000;
const firstSent = new Date();
const load = (async () => {
  let tick = Date.now();
  while (Date.now() < loadUntil) {
    tick += 1000 / RPS;
    if (inflight < CONCURRENCY * 4) {
      inflight++;
      const path = `/soak/${sent++}`;
      void one(path).then((ok) => { inflight--; if (ok) answered++; else failed++; });
    }
    const wait = tick - Date.now();
    if (wait > 0) await sleep(wait);
  }
  for (let i = 0; i < 300 && inflight > 0; i++) await sleep(100);
})();

// --- samples: RSS of the primary and each worker, spool bytes, stream lag
interface Sample { t: number; primary: number; workers: number; spool: number; lag: number }
const samples: Sample[] = [];
const sampler = setInterval(() => {
  void metric('fairwatch_stream_lag').then((lag) => {
    const w = workers();
    samples.push({ t: (Date.now() - t0) / 1000, primary: rssMB(primary), workers: w.reduce((s, p) => s + rssMB(p), 0), spool: spoolBytes(join(env.FAIRWATCH_DATA_DIR, 'spool')), lag });
  });
}, SAMPLE_EVERY_MS);

// --- faults on a schedule
const faults: string[] = [];
const kinds = ['kill redis-server', 'kill a proxy worker', 'stop the primary'] as const;
const faultLoop = (async () => {
  for (let i = 0; ; i++) {
    await sleep(FAULT_EVERY_S * 1000);
    if (Date.now() > loadUntil - 5000) break;
    const kind = kinds[i % kinds.length]!;
    try {
      if (kind === 'kill redis-server') process.kill(redisPid(), 'SIGKILL');
      else if (kind === 'kill a proxy worker') { const w = workers(); process.kill(w[i % w.length]!, 'SIGKILL'); }
      else {
        process.kill(primary, 'SIGSTOP');
        await sleep(STOP_PRIMARY_S * 1000);
        process.kill(primary, 'SIGCONT');
      }
      faults.push(kind);
      log(`fault: ${kind} (answered ${answered}, failed ${failed})`);
    } catch (e) {
      log(`fault ${kind} not injected: ${(e as Error).message}`);
    }
  }
})();

await load;
await faultLoop;
log(`load over: sent ${sent}, answered ${answered}, failed ${failed}`);

// --- drain: stored events must reach the answered count (bounded wait)
const count = () => {
  const r = spawnSync(process.execPath, [BIN, 'events', 'count', '--from', new Date(firstSent.getTime() - 60_000).toISOString(), '--to', new Date(Date.now() + 60_000).toISOString(), '--json'], { env, encoding: 'utf8', timeout: 120_000 });
  try { return JSON.parse(r.stdout) as { count: number; unique: number }; } catch { return { count: NaN, unique: NaN }; }
};
let stored = count();
const drainStart = Date.now();
let last = -1;
let flatFor = 0;
while (Date.now() - drainStart < DRAIN_MAX_MS && !(stored.count >= answered && spoolBytes(join(env.FAIRWATCH_DATA_DIR, 'spool')) === 0)) {
  await sleep(2000);
  stored = count();
  flatFor = stored.count === last ? flatFor + 1 : 0;
  last = stored.count;
  if (flatFor >= 15) break; // 30 s without progress: report what is there
}
const drainS = (Date.now() - drainStart) / 1000;
clearInterval(sampler);
await sleep(SAMPLE_EVERY_MS);
const spooled = await metric('fairwatch_events_spooled_total');
const dropped = await metric('fairwatch_events_dropped_total');
const redisRestarts = await metric('fairwatch_redis_restarts_total');
const workerRestarts = await metric('fairwatch_proxy_worker_restarts_total');
const doctor = spawnSync(process.execPath, [BIN, 'doctor'], { env, encoding: 'utf8', timeout: 120_000 });

fw.kill('SIGTERM');
const code = await new Promise<number | null>((r) => { const t = setTimeout(() => { fw.kill('SIGKILL'); r(null); }, 30_000); fw.once('exit', (c) => { clearTimeout(t); r(c); }); });
agent.destroy();
origin.close();

// --- summary
const valid = samples.filter((s) => Number.isFinite(s.primary) && s.workers > 0);
const stats = (xs: number[]) => ({ first: xs[0] ?? NaN, last: xs.at(-1) ?? NaN, max: Math.max(...xs) });
/** least-squares slope over the second half of the run (after warm-up), MB per minute */
const slope = (pts: Array<[number, number]>) => {
  const half = pts.slice(Math.floor(pts.length / 2));
  const n = half.length;
  if (n < 3) return NaN;
  const mx = half.reduce((s, p) => s + p[0], 0) / n;
  const my = half.reduce((s, p) => s + p[1], 0) / n;
  const num = half.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = half.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den ? (num / den) * 60 : NaN;
};
const p = stats(valid.map((s) => s.primary));
const w = stats(valid.map((s) => s.workers));
const pTrend = slope(valid.map((s) => [s.t, s.primary]));
const wTrend = slope(valid.map((s) => [s.t, s.workers]));
const maxSpool = Math.max(0, ...samples.map((s) => s.spool));
const maxLag = Math.max(0, ...samples.map((s) => s.lag).filter(Number.isFinite));
const f1 = (x: number) => x.toFixed(1);
const summary = [
  `soak ${new Date().toISOString().slice(0, 10)}: ${SECONDS} s at ${RPS} requests/s through \`fairwatch start\` (2 workers), a fault every ${FAULT_EVERY_S} s`,
  `faults: ${faults.length} (${kinds.map((k) => `${faults.filter((f) => f === k).length}× ${k}`).join(', ')}; the primary stopped ${STOP_PRIMARY_S} s each time)`,
  `requests: ${sent} sent, ${answered} answered, ${failed} failed (connections reset by a killed worker or timed out)`,
  `events: ${stored.count} stored, ${stored.unique} unique; answered − stored = ${answered - stored.count}; ${spooled} went through the spool, ${dropped} dropped; drained ${f1(drainS)} s after the load`,
  `restarts seen: redis-server ${redisRestarts}, proxy workers ${workerRestarts}`,
  `RSS primary MB: first ${f1(p.first)}, last ${f1(p.last)}, max ${f1(p.max)}, trend ${f1(pTrend)} MB/min over the second half`,
  `RSS workers (sum) MB: first ${f1(w.first)}, last ${f1(w.last)}, max ${f1(w.max)}, trend ${f1(wTrend)} MB/min over the second half`,
  `spool max ${maxSpool} bytes (${spoolBytes(join(env.FAIRWATCH_DATA_DIR, 'spool'))} at the end); stream lag max ${maxLag} entries`,
  `fairwatch stopped with exit code ${code}`,
];
console.log(`\n${summary.join('\n')}`);
console.log(`\ndoctor at the end:\n${doctor.stdout}${doctor.stderr}`);
const problems: string[] = [];
if (stored.count !== stored.unique) problems.push(`${stored.count - stored.unique} duplicate events`);
// answered responses whose worker was killed in the instant after the last byte may lack an event (docs/architecture/event-path.md)
if (stored.count < answered - faults.filter((f) => f === 'kill a proxy worker').length * CONCURRENCY) problems.push(`${answered - stored.count} answered requests have no stored event`);
if (stored.count > sent) problems.push('more events than requests');
if (dropped > 0) problems.push(`${dropped} events dropped`);
if (pTrend > 5 || wTrend > 5) problems.push('memory grows (more than 5 MB/min over the second half)');
if (code !== 0) problems.push(`fairwatch exited ${code}`);
if (problems.length) {
  console.log(`\nPROBLEMS: ${problems.join('; ')}\nlog tail:\n${err.split('\n').slice(-30).join('\n')}`);
  process.exitCode = 1;
} else rmSync(dir, { recursive: true, force: true });
