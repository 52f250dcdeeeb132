import { spawn, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineMetrics } from '../../core/events/metrics.ts';
import { createStreamSink } from '../../core/events/stream-sink.ts';
import { eventsOfEntries } from '../helpers/stream-events.ts';
import { diskOf } from '../../core/ops/pipeline-health.ts';
import { freePort } from '../../core/storage/redis.ts';
import { Redis } from 'ioredis';
import { runCli, startCli } from '../helpers/cli.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeEvent } from '../pipeline/events.ts';
import { startOrigin, type Origin } from '../proxy/harness.ts';

// Limits that hold, caused for real. The data directory lives on a small tmpfs
// this test mounts (it runs as root), which is then filled: what cannot be kept is counted as
// dropped with a log line, everything else is stored once the space is back; and the managed
// redis-server's memory limit (noeviction) is reached with the ingester stopped: Redis refuses the
// writes, the proxy spools them, and they are stored once the ingester has drained the stream.

const tmp = tempDir('fw-limits-');

function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`this test mounts a tmpfs (it needs root): ${r.stderr}`);
}
const umount = (dir: string) => spawnSync('umount', ['-l', dir]);

/** Writes a file until the filesystem refuses (ENOSPC); returns its path. Bounded by the fs size. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let i = 0; i < 1_000_000; i++) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  // the last bytes too, so even a small append fails
  const fd2 = openSync(path, 'a');
  try {
    for (let i = 0; i < 100_000; i++) writeSync(fd2, Buffer.alloc(512, 1));
  } catch { /* full */ } finally { closeSync(fd2); }
  return path;
}

const logLines = (text: string) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } });

describe('the spool on a full disk (sink, 2 MB tmpfs)', () => {
  const mnt = join(tmp.dir, 'small');
  beforeAll(() => mountTmpfs(mnt, '2m'));
  afterAll(() => umount(mnt));

  it('Redis away and the disk full: what fits is spooled and later stored, the rest counted as dropped and logged; no torn line eats a batch', async () => {
    const port = await freePort();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } }));
    const stream = `limits:${Date.now()}`;
    // spoolMaxMB far above the filesystem: the disk, not the cap, is the limit here
    const sink = createStreamSink({ redis: `redis://127.0.0.1:${port}`, dataDir: mnt, pipeline: { stream, batchRows: 1000, batchMs: 100, spoolMaxMB: 1024, writeTimeoutMs: 100, claimIdleSeconds: 30, retryMaxSeconds: 1, redisMaxMemoryMB: 256 }, log });
    const dropped0 = (await pipelineMetrics.dropped.get()).values[0]?.value ?? 0;
    const ids: string[] = [];
    // ~1 KB events, in ticks of 50, until well past the 2 MB (bounded)
    for (let tick = 0; tick < 80; tick++) {
      for (let i = 0; i < 50; i++) {
        const e = makeEvent(tick * 50 + i, { path: `/fill/${tick}/${i}/${'x'.repeat(900)}` });
        ids.push(e.event_id);
        sink.emit(e);
      }
      await sink.flush();
    }
    const dropped = ((await pipelineMetrics.dropped.get()).values[0]?.value ?? 0) - dropped0;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(ids.length);
    const lost = lines.filter((l) => String(l.msg).startsWith('cannot write the event spool (disk full?)'));
    expect(lost.reduce((s, l) => s + Number(l.events), 0)).toBe(dropped); // every loss logged with its count
    expect(lines.some((l) => String(l.msg).startsWith('cannot write the event journal (disk full?)'))).toBe(true);
    expect((await pipelineMetrics.spoolWriteFailing.get()).values[0]?.value).toBe(1);
    // Redis appears on that port: the spool replays by itself
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null });
    try {
      const inStream = await pollUntil(async () => eventsOfEntries(await redis.xrange(stream, '-', '+')), (evs) => evs.length >= ids.length - dropped, 30_000, 100);
      const got = inStream.map((e) => e.event_id);
      expect(new Set(got).size).toBe(got.length); // no duplicates
      expect(got.length).toBe(ids.length - dropped); // stored + dropped = emitted, exactly
      // the stored ones keep their order: no torn line swallowed a batch in between
      const pos = new Map(ids.map((id, i) => [id, i]));
      expect(got.every((id, i) => i === 0 || pos.get(id)! > pos.get(got[i - 1]!)!)).toBe(true);
      await sink.close();
      expect((await pipelineMetrics.spoolWriteFailing.get()).values[0]?.value).toBe(0); // replayed: the flag is down
    } finally {
      redis.disconnect();
      server.kill('SIGKILL');
    }
  }, 90_000);
});

describe('fairwatch start on a small data disk, with a small Redis memory limit', () => {
  const data = join(tmp.dir, 'disk');
  let origin: Origin;
  let fw: ReturnType<typeof startCli>;
  let env: NodeJS.ProcessEnv;
  let proxyPort = 0;
  let metricsUrl = '';
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let answered = 0;
  let seq = 0;

  beforeAll(async () => {
    mountTmpfs(data, '512m');
    origin = await startOrigin();
    const cfg = join(tmp.dir, 'fairwatch.yaml');
    writeFileSync(cfg, 'proxy:\n  workers: 2\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\nmetrics:\n  port: 0\npipeline:\n  redisMaxMemoryMB: 4\n  retryMaxSeconds: 2\n');
    env = {
      FAIRWATCH_DATA_DIR: join(data, 'fw'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0',
      FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
    };
    fw = startCli(['start'], { env, timeoutMs: 120_000 });
    await fw.ready;
    const out = fw.output().stdout;
    proxyPort = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    metricsUrl = /metrics on (\S+)/.exec(out)![1]!;
  }, 180_000);
  afterAll(async () => {
    agent.destroy();
    if (fw) { try { fw.signal('SIGCONT'); } catch { /* gone */ } await fw.stop('SIGTERM'); }
    await origin?.close();
    umount(data);
    tmp.cleanup();
  });

  /** `count` requests through the proxy, 8 at a time on kept-alive connections; paths of `pad` bytes. */
  async function load(count: number, pad: number): Promise<{ ok: number; failed: number }> {
    let ok = 0;
    let failed = 0;
    let next = 0;
    const one = () => new Promise<boolean>((resolve) => {
      const path = `/lim/${seq++}/${'p'.repeat(pad)}`;
      const req = request({ host: '127.0.0.1', port: proxyPort, path: `http://127.0.0.1:${origin.port}${path}`, agent, timeout: 20_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.complete));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next++ < count) { if (await one()) ok++; else failed++; }
    }));
    answered += ok;
    return { ok, failed };
  }
  const metricsText = async () => (await fetch(metricsUrl)).text();
  const metric = async (name: string, label = '') => {
    const m = new RegExp(`^${name}${label ? `\\{[^}]*${label}[^}]*\\}` : ''} (\\S+)$`, 'm').exec(await metricsText());
    return Number(m?.[1] ?? 0);
  };
  const stored = async () => {
    const r = await runCli(['events', 'count', '--from', new Date(Date.now() - 86_400_000).toISOString(), '--to', new Date(Date.now() + 86_400_000).toISOString(), '--json'], { env, timeoutMs: 120_000 });
    const { count, unique } = JSON.parse(r.stdout) as { count: number; unique: number };
    return { count, unique };
  };

  it('Redis at its memory limit with the ingester stopped: writes refused (OOM), spooled, then all stored once; the log and doctor say so', async () => {
    expect(readFileSync(join(env.FAIRWATCH_DATA_DIR!, 'redis', 'redis.conf'), 'utf8')).toMatch(/maxmemory 4mb\nmaxmemory-policy noeviction/);
    expect((await load(16, 10)).failed).toBe(0); // warm: kept-alive connections straight to the workers
    // the primary holds the ingester: stopped, nothing drains the stream; the workers and Redis run on
    fw.signal('SIGSTOP');
    let res: { ok: number; failed: number };
    try {
      res = await load(2500, 2000); // ~5 MB of events into a 4 MB Redis
    } finally {
      fw.signal('SIGCONT');
    }
    expect(res.failed).toBe(0); // browsing never noticed
    const refused = await pollUntil(() => metric('fairwatch_redis_refused_writes_total', 'reason="memory"'), (n) => n > 0, 10_000, 200);
    expect(refused).toBeGreaterThan(0);
    expect(await metric('fairwatch_events_spooled_total')).toBeGreaterThan(0);
    expect(fw.output().stderr).toContain('Redis refuses event writes: it is at its memory limit (pipeline.redisMaxMemoryMB, noeviction)');
    // the ingester drains and trims the stream, Redis takes writes again, the spool replays
    const s = await pollUntil(stored, (v) => v.count >= answered, 120_000, 1000);
    expect(s).toEqual({ count: answered, unique: answered });
    expect(await metric('fairwatch_events_dropped_total')).toBe(0);
    const doctor = await runCli(['doctor'], { env, timeoutMs: 120_000 });
    expect(doctor.stdout).toMatch(/redis memory:\s+\d+ MB of its 4 MB limit \(\d+%, policy noeviction\); \d+ events refused earlier went to the spool/);
    expect(doctor.stdout).toMatch(/event spool:\s+empty/);
  }, 240_000);

  it('the data disk full: doctor says so; what cannot be kept is counted as dropped and logged, the rest stored once space is back', async () => {
    const before = answered;
    const filler = fill(data);
    let res: { ok: number; failed: number };
    let doctor: { stdout: string; stderr: string };
    try {
      expect(diskOf(data)!.free).toBeLessThan(1 << 20);
      res = await load(300, 10);
      // health in words while it lasts (doctor runs inside the primary through the control socket)
      doctor = await runCli(['doctor'], { env, timeoutMs: 120_000 });
    } finally {
      rmSync(filler, { force: true });
    }
    expect(res.failed).toBe(0); // browsing never stops
    expect(doctor.stdout).toMatch(/data disk:\s+the data disk is nearly full: \d+ MB free of 512 MB \(0%\)/);
    expect(doctor.stderr).toMatch(/problem: the data disk is nearly full.*when it is full ClickHouse refuses inserts and the spool cannot be written/);
    // everything answered is stored, or counted as dropped with a log line: never vanished
    const settled = async () => ({ s: await stored(), dropped: await metric('fairwatch_events_dropped_total') });
    const end = await pollUntil(settled, (v) => v.s.count + v.dropped >= answered, 120_000, 1000);
    expect(end.s.count).toBe(end.s.unique);
    expect(end.s.count + end.dropped).toBe(answered);
    const loggedLost = logLines(fw.output().stderr).filter((l) => String(l.msg).includes('events lost')).reduce((n, l) => n + Number(l.events ?? 0), 0);
    expect(loggedLost).toBe(end.dropped);
    console.log(`disk full: ${res.ok} answered, ${end.s.count - before} stored, ${end.dropped} dropped (each logged)`);
    if (end.dropped > 0) {
      const doc2 = await runCli(['doctor'], { env, timeoutMs: 120_000 });
      expect(doc2.stdout).toMatch(new RegExp(`dropped events:\\s+${end.dropped} events? lost since start`));
    }
    // and once the space is back, new events flow straight through
    const after = await load(50, 10);
    expect(after.failed).toBe(0);
    const s2 = await pollUntil(stored, (v) => v.count >= end.s.count + 50, 120_000, 1000);
    expect(s2.count).toBe(end.s.count + 50);
    expect(s2.unique).toBe(s2.count);
  }, 300_000);
});
