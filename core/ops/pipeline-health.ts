import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { spoolContents } from '../events/spool-size.ts';
import type { ManagedRedisHealth } from '../storage/redis.ts';

// The state of the embedded stack in words an IT person acts on, for
// `fairwatch doctor` and the console's /health page alike. `pipelineFacts` gathers (I/O);
// `pipelineHealth` is pure: facts in, sentences out, each with what to do.

export type Level = 'ok' | 'warn' | 'bad' | 'unknown';

export interface HealthItem {
  key: string;
  label: string;
  level: Level;
  /** what is the case, in a sentence */
  value: string;
  /** what to do about it, when something is to be done */
  action?: string;
}

export interface PipelineFacts {
  now: number;
  dataDir: string;
  /** supervision of the managed redis-server; null with REDIS_URL or outside the primary */
  managed: (ManagedRedisHealth & { logFile: string }) | null;
  /** Redis answered a PING just now */
  redisAnswers: boolean;
  /** INFO memory; null when Redis does not answer */
  redisMemory: { used: number; max: number; policy: string } | null;
  spool: { events: number; bytes: number; capBytes: number };
  /** from the metrics of this process and its proxy workers; null where not counted here */
  dropped: number | null;
  spoolWriteFailing: boolean;
  refusedMemory: number;
  refusedDisk: number;
  /** Unix seconds since which ClickHouse refuses inserts; 0 when fine, null when no ingester here */
  ingestFailingSince: number | null;
  ingestDiskFull: boolean;
  disk: { free: number; total: number } | null;
}

/** One sample from Prometheus exposition text (summed over label sets); null when the metric is absent. */
export function metricValue(text: string, name: string, label?: string): number | null {
  let found = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (label && !rest.includes(label)) continue;
    const v = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) {
      found = true;
      sum += v;
    }
  }
  return found ? sum : null;
}

export async function redisMemory(redis: Redis): Promise<PipelineFacts['redisMemory']> {
  const info = await redis.info('memory');
  const num = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { used: num('used_memory'), max: num('maxmemory'), policy: /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? '' };
}

export function diskOf(dir: string): PipelineFacts['disk'] {
  try {
    const s = statfsSync(dir);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

const within = <T>(p: Promise<T>, ms: number, fallback: T) =>
  Promise.race([p.catch(() => fallback), new Promise<T>((r) => setTimeout(() => r(fallback), ms).unref())]);

export async function pipelineFacts(o: {
  redis: Redis | null; dataDir: string; spoolMaxMB: number; metricsText: string;
  managed: { health(): ManagedRedisHealth; dir: string } | null; now?: number;
}): Promise<PipelineFacts> {
  const t = o.metricsText;
  const redisAnswers = o.redis ? await within(o.redis.ping().then(() => true), 2000, false) : false;
  const spool = spoolContents(join(o.dataDir, 'spool'));
  const failingSince = metricValue(t, 'fairwatch_ingest_failing_since_seconds');
  return {
    now: o.now ?? Date.now(),
    dataDir: o.dataDir,
    managed: o.managed ? { ...o.managed.health(), logFile: join(o.managed.dir, 'redis.log') } : null,
    redisAnswers,
    redisMemory: redisAnswers && o.redis ? await within(redisMemory(o.redis), 2000, null) : null,
    spool: { ...spool, capBytes: o.spoolMaxMB * 1024 * 1024 },
    dropped: metricValue(t, 'fairwatch_events_dropped_total'),
    spoolWriteFailing: (metricValue(t, 'fairwatch_spool_write_failing') ?? 0) > 0,
    refusedMemory: metricValue(t, 'fairwatch_redis_refused_writes_total', 'reason="memory"') ?? 0,
    refusedDisk: metricValue(t, 'fairwatch_redis_refused_writes_total', 'reason="disk"') ?? 0,
    ingestFailingSince: failingSince,
    ingestDiskFull: (metricValue(t, 'fairwatch_ingest_disk_full') ?? 0) > 0,
    disk: diskOf(o.dataDir),
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const mb = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GB` : `${Math.max(0, Math.round(b / (1 << 20)))} MB`);
const since = (ms: number) => (ms < 120_000 ? plural(Math.round(ms / 1000), 'second') : ms < 7_200_000 ? plural(Math.round(ms / 60_000), 'minute') : plural(Math.round(ms / 3_600_000), 'hour'));

/** The pipeline's state in words: Redis, its memory, the spool, lost events, inserts, the disk. */
export function pipelineHealth(f: PipelineFacts): HealthItem[] {
  const items: HealthItem[] = [];
  // Redis and its supervision
  const m = f.managed;
  if (m) {
    const last = m.lastExit ? ` (last exit: ${m.lastExit.signal ?? `code ${m.lastExit.code}`} at ${m.lastExit.at})` : '';
    if (!m.up) {
      items.push({ key: 'redis', label: 'Managed Redis', level: 'bad', value: `Redis is down and being restarted${last}; ${plural(m.restartsLastHour, 'restart')} in the last hour`, action: `events wait in the disk spool meanwhile; if it does not come back within a minute, read ${m.logFile}` });
    } else if (m.restartsLastHour > 0) {
      items.push({ key: 'redis', label: 'Managed Redis', level: m.restartsLastHour >= 3 ? 'warn' : 'ok', value: `Redis restarted ${plural(m.restartsLastHour, 'time')} in the last hour${last}; up now`, action: m.restartsLastHour >= 3 ? `something keeps stopping it: look for the OOM killer (dmesg) and read ${m.logFile}` : undefined });
    } else {
      items.push({ key: 'redis', label: 'Managed Redis', level: 'ok', value: `up; no restart in the last hour (${plural(m.restarts, 'restart')} since start)` });
    }
  } else {
    items.push(f.redisAnswers
      ? { key: 'redis', label: 'Redis', level: 'ok', value: 'answers (not supervised by this process)' }
      : { key: 'redis', label: 'Redis', level: 'bad', value: 'Redis does not answer', action: 'events wait in the disk spool; check REDIS_URL and that the server runs' });
  }
  // Redis memory
  const mem = f.redisMemory;
  if (mem && mem.max > 0) {
    const share = mem.used / mem.max;
    const text = `${mb(mem.used)} of its ${mb(mem.max)} limit (${Math.round(share * 100)}%, policy ${mem.policy})`;
    if (share >= 0.98 || (f.refusedMemory > 0 && share >= 0.9)) {
      items.push({ key: 'redis-memory', label: 'Redis memory', level: 'bad', value: `Redis is full: ${text}; it refuses new events, which go to the disk spool (${plural(f.refusedMemory, 'event')} refused since start)`, action: 'check that the ingester stores (stream backlog, ClickHouse below); raise pipeline.redisMaxMemoryMB if the machine has the memory' });
    } else if (share >= 0.8) {
      items.push({ key: 'redis-memory', label: 'Redis memory', level: 'warn', value: `Redis is filling up: ${text}`, action: 'at the limit it refuses new events (they go to the spool): check the ingester, or raise pipeline.redisMaxMemoryMB' });
    } else {
      items.push({ key: 'redis-memory', label: 'Redis memory', level: 'ok', value: `${text}${f.refusedMemory ? `; ${plural(f.refusedMemory, 'event')} refused earlier went to the spool` : ''}` });
    }
  } else if (mem) {
    items.push({ key: 'redis-memory', label: 'Redis memory', level: mem.policy === 'noeviction' ? 'ok' : 'warn', value: `${mb(mem.used)}, no limit set (policy ${mem.policy})`, action: mem.policy === 'noeviction' ? undefined : 'an external Redis with an evicting policy can drop events silently: set maxmemory-policy noeviction' });
  }
  // the spool
  const { events, bytes, capBytes } = f.spool;
  const flowing = f.redisAnswers && !(mem && mem.max > 0 && mem.used / mem.max >= 0.98);
  if (f.spoolWriteFailing) {
    items.push({ key: 'spool', label: 'Event spool', level: 'bad', value: `the spool cannot be written (disk full?) while Redis does not take events: new events are lost and counted; ${plural(events, 'event')} waiting`, action: `free space on the disk of ${f.dataDir}` });
  } else if (bytes > 0) {
    const share = bytes / capBytes;
    items.push({ key: 'spool', label: 'Event spool', level: share >= 0.8 ? 'bad' : 'warn', value: `${plural(events, 'event')} waiting in the spool, ${flowing ? 'draining' : 'waiting for Redis'} (${mb(bytes)}, ${Math.round(share * 100)}% of pipeline.spoolMaxMB)`, action: flowing ? undefined : share >= 0.8 ? 'when the spool is full new events are lost: bring Redis back or raise pipeline.spoolMaxMB' : 'they are stored once Redis answers' });
  } else {
    items.push({ key: 'spool', label: 'Event spool', level: 'ok', value: 'empty' });
  }
  // lost events
  if (f.dropped === null) items.push({ key: 'dropped', label: 'Dropped events', level: 'unknown', value: 'not counted in this process' });
  else if (f.dropped > 0) items.push({ key: 'dropped', label: 'Dropped events', level: 'bad', value: `${plural(f.dropped, 'event')} lost since start (the spool was full or could not be written)`, action: 'each loss is in the log ("events lost"); raise pipeline.spoolMaxMB or free disk space so it does not happen again' });
  else items.push({ key: 'dropped', label: 'Dropped events', level: 'ok', value: 'none since start' });
  // inserts into ClickHouse
  if (f.ingestFailingSince === null) items.push({ key: 'ingest', label: 'Storing events', level: 'unknown', value: 'no ingester in this process' });
  else if (f.ingestFailingSince > 0) {
    const why = f.ingestDiskFull ? 'the disk is full' : 'it fails';
    items.push({ key: 'ingest', label: 'Storing events', level: 'bad', value: `ClickHouse has refused inserts for ${since(f.now - f.ingestFailingSince * 1000)} (${why}); events wait in the Redis stream`, action: f.ingestDiskFull ? `free space on the disk of ${f.dataDir}; the ingester retries by itself` : 'see the log ("ClickHouse insert failed"); the ingester retries by itself' });
  } else items.push({ key: 'ingest', label: 'Storing events', level: 'ok', value: 'ClickHouse takes inserts' });
  // the data directory's disk
  if (f.disk) {
    const share = f.disk.free / Math.max(1, f.disk.total);
    const text = `${mb(f.disk.free)} free of ${mb(f.disk.total)} (${Math.round(share * 100)}%) for ${f.dataDir}`;
    const level: Level = f.disk.free < 64 << 20 || share < 0.01 ? 'bad' : f.disk.free < 1 << 30 && share < 0.1 ? 'warn' : 'ok';
    items.push({ key: 'disk', label: 'Data disk', level, value: level === 'ok' ? text : `the data disk is nearly full: ${text}`, action: level === 'ok' ? undefined : 'when it is full ClickHouse refuses inserts and the spool cannot be written: free space or shorten retention.eventsDays' });
  }
  return items;
}
