// Policy engine benchmark: list load time and memory, decision latency, warm reload, each against
// a naive baseline (a JS Map of host strings, suffixes looked up with split/join) measured in the
// same run. Run: `node --import tsx bench/policy.ts` (full UT1 size when /work/shared/data/ut1 or
// UT1_DIR exists, a smaller synthetic set otherwise; `--small` forces the small set).
//
// The UT1 copy lacks adult/domains, malware/domains and phishing/domains (too large to ship), so
// they are topped up with synthetic names to full UT1 size: 4.6M, 270k, 270k.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { prepareLists, WORDS } from './lib/full-lists.ts';

const ROOT = join(import.meta.dirname, '..');
const UT1 = process.env.UT1_DIR ?? '/work/shared/data/ut1';
const small = process.argv.includes('--small') || !existsSync(UT1);

/** The shipped default policy (fairwatch.example.yaml's policy section). */
function examplePolicyYaml(): string {
  const doc = parse(readFileSync(join(ROOT, 'fairwatch.example.yaml'), 'utf8')) as Record<string, unknown>;
  return stringify({ organisation: { timezone: 'Europe/London' }, policy: doc.policy });
}

/** Request hosts: 30% listed (some as subdomains), 70% not, like a day of real traffic. */
function sampleHosts(dir: string, n: number): string[] {
  const listed: string[] = [];
  for (const cat of readdirSync(dir)) {
    const f = join(dir, cat, 'domains');
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    const lines = text.length > 2_000_000 ? text.slice(0, 2_000_000).split('\n') : text.split('\n');
    for (let i = 0; i < lines.length; i += Math.max(1, Math.floor(lines.length / 500))) if (lines[i]) listed.push(lines[i]!.trim().toLowerCase());
  }
  const out: string[] = [];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.3) {
      const h = listed[Math.floor(rnd() * listed.length)]!;
      out.push(rnd() < 0.5 ? `www.${h}` : h);
    } else if (r < 0.6) out.push(`www.${WORDS[i % 20]}${i % 997}.co.uk`);
    else if (r < 0.85) out.push(`cdn${i % 50}.static.${WORDS[(i * 3) % 20]}-assets.com`);
    else out.push(`a${i % 7}.b.c.${WORDS[(i * 5) % 20]}.example.org`);
  }
  return out;
}

const rssMB = () => process.memoryUsage().rss / 1048576;
function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function percentiles(ns: Float64Array): { median: number; p99: number } {
  const s = Float64Array.from(ns).sort();
  return { median: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]! };
}

/** Times each call; the cost of the timer itself (an empty call) is subtracted. */
function timeCalls(n: number, fn: (i: number) => void): { median: number; p99: number } {
  const t = new Float64Array(n);
  const empty = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    empty[i] = Number(b - a);
  }
  const overhead = percentiles(empty).median;
  for (let i = 0; i < n; i++) {
    const a = process.hrtime.bigint();
    fn(i);
    const b = process.hrtime.bigint();
    t[i] = Math.max(0, Number(b - a) - overhead);
  }
  return percentiles(t);
}

async function childCompact(dir: string) {
  const { loadLists } = await import('../core/policy/lists.ts');
  const { PolicySnapshot } = await import('../core/policy/engine.ts');
  const { parseConfig } = await import('../core/config/load.ts');
  const config = parseConfig(examplePolicyYaml(), 'fairwatch.example.yaml');
  const hosts = sampleHosts(dir, 200_000);
  gc();
  const rss0 = rssMB();
  const cpu0 = process.cpuUsage();
  const lists = await loadLists(dir);
  const cpu = process.cpuUsage(cpu0);
  gc();
  const rss1 = rssMB();
  const engine = new PolicySnapshot(config.policy, config.organisation.timezone, lists);
  const at = new Date('2026-11-24T10:00:00Z'); // a Tuesday in working hours
  const input = (i: number) => ({ user: 'u', group: 'staff', method: 'GET', scheme: 'https' as const, host: hosts[i]!, port: 443, path: '/index.html', at });
  const actions: Record<string, number> = {};
  for (let i = 0; i < hosts.length; i++) { const a = engine.decide(input(i)).action; actions[a] = (actions[a] ?? 0) + 1; } // warm-up
  const decide = timeCalls(hosts.length, (i) => engine.decide(input(i)));
  // warm reload: the new snapshot is built while the old one keeps answering; the longest pause
  // of the event loop during the build is what a browsing user would feel
  let longestPauseMs = 0;
  let last = performance.now();
  let served = 0;
  let reloading = true;
  const tick = () => {
    const now = performance.now();
    longestPauseMs = Math.max(longestPauseMs, now - last);
    last = now;
    engine.decide(input(served++ % hosts.length));
    if (reloading) setImmediate(tick);
  };
  setImmediate(tick);
  const r0 = performance.now();
  const next = new PolicySnapshot(config.policy, config.organisation.timezone, await loadLists(dir));
  const reloadMs = performance.now() - r0;
  reloading = false;
  const rssBoth = rssMB();
  const stillServes = engine.decide(input(0)).action === next.decide(input(0)).action;
  return {
    entries: lists.stats.entries, categories: lists.stats.categories.length, badLines: lists.stats.badLines,
    loadMs: lists.stats.loadMs, loadCpuMs: (cpu.user + cpu.system) / 1000, rssAddedMB: rss1 - rss0, tableMB: lists.stats.tableBytes / 1048576,
    decideMedianNs: decide.median, decideP99Ns: decide.p99, actions, reloadMs, longestPauseMs, servedDuringReload: served, rssDuringReloadMB: rssBoth - rss0, stillServes,
  };
}

async function childNaive(dir: string) {
  const hosts = sampleHosts(dir, 200_000);
  gc();
  const rss0 = rssMB();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const map = new Map<string, number>();
  let cat = 0;
  for (const name of readdirSync(dir).sort()) {
    cat++;
    for (const f of ['domains']) {
      const p = join(dir, name, f);
      if (!existsSync(p) || !statSync(p).isFile()) continue;
      for (const line of readFileSync(p, 'utf8').split('\n')) {
        const h = line.trim().toLowerCase();
        if (h && !h.startsWith('#')) map.set(h, cat);
      }
    }
  }
  const loadMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  gc();
  const rss1 = rssMB();
  const lookup = (host: string) => {
    const labels = host.split('.');
    for (let i = 0; i < labels.length; i++) {
      const c = map.get(labels.slice(i).join('.'));
      if (c !== undefined) return c;
    }
    return 0;
  };
  for (const h of hosts) lookup(h);
  const t = timeCalls(hosts.length, (i) => lookup(hosts[i]!));
  return { entries: map.size, loadMs, loadCpuMs: (cpu.user + cpu.system) / 1000, rssAddedMB: rss1 - rss0, lookupMedianNs: t.median, lookupP99Ns: t.p99 };
}

function runChild<T>(kind: string, dir: string): T {
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import', 'tsx', join(import.meta.dirname, 'policy.ts'), '--child', kind, dir], { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 300_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf('--child');
  if (childAt >= 0) {
    const kind = process.argv[childAt + 1]!;
    const dir = process.argv[childAt + 2]!;
    const r = kind === 'compact' ? await childCompact(dir) : await childNaive(dir);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const started = performance.now();
  const dir = prepareLists(small);
  console.log(`policy bench: ${small ? 'small synthetic set' : `UT1 (${UT1}) topped up to full size`} in ${dir} (prepared in ${Math.round(performance.now() - started)} ms)`);
  console.log('numbers from one run on whatever machine this is; on a shared, busy machine expect noise');
  const c = runChild<Awaited<ReturnType<typeof childCompact>>>('compact', dir);
  const n = runChild<Awaited<ReturnType<typeof childNaive>>>('naive', dir);
  const f = (x: number, d = 0) => x.toFixed(d);
  console.log(`entries: ${c.entries} distinct names in ${c.categories} categories (naive Map: ${n.entries})`);
  console.log(`machine: load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs`);
  console.log(`load:    ${f(c.loadMs)} ms wall, ${f(c.loadCpuMs)} ms CPU (goal ≤ 5000)   naive ${f(n.loadMs)} ms wall, ${f(n.loadCpuMs)} ms CPU   ratio ${f(c.loadMs / n.loadMs, 2)} wall, ${f(c.loadCpuMs / n.loadCpuMs, 2)} CPU`);
  console.log(`memory:  ${f(c.rssAddedMB)} MB RSS added (goal ≤ 300; table ${f(c.tableMB)} MB)   naive ${f(n.rssAddedMB)} MB   ratio ${f(c.rssAddedMB / n.rssAddedMB, 2)}`);
  console.log(`decide:  median ${f(c.decideMedianNs)} ns (goal ≤ 2000), p99 ${f(c.decideP99Ns)} ns (goal ≤ 10000)   naive lookup median ${f(n.lookupMedianNs)} ns, p99 ${f(n.lookupP99Ns)} ns   ratio ${f(c.decideMedianNs / n.lookupMedianNs, 2)} (median)`);
  console.log(`         actions over the sample: ${JSON.stringify(c.actions)}`);
  console.log(`reload:  new snapshot built beside the old in ${f(c.reloadMs)} ms; RSS with both ${f(c.rssDuringReloadMB)} MB; ${c.servedDuringReload} decisions served by the old snapshot meanwhile, longest event-loop pause ${f(c.longestPauseMs)} ms; same answers after: ${Boolean(c.stillServes)}`);
}

await main();
