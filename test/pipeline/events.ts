import { randomUUID } from 'node:crypto';
import type { AccessEvent } from '../../core/events/event.ts';
import { parseConfig } from '../../core/config/load.ts';
import type { PipelineConfig } from '../../core/events/stream-sink.ts';
import { eventsOfEntries } from '../helpers/stream-events.ts';
import type { Redis } from 'ioredis';
import type { Store } from '../../core/storage/clickhouse.ts';
import { ROLLUP_TABLES } from '../../core/storage/rollup-views.ts';

// Recent times: rows older than retention.eventsDays are dropped by the table TTL on insert.
const BASE = Date.now() - 3_600_000;

/** A realistic event; `n` goes into the path so tests can check order. */
export function makeEvent(n: number, over: Partial<AccessEvent> = {}): AccessEvent {
  return {
    ts: new Date(BASE + n).toISOString(),
    event_id: randomUUID(),
    user_pseudonym: `u${(n % 50).toString(16).padStart(15, '0')}`,
    user_group: 'staff',
    client_pseudonym: 'c000000000000001',
    method: 'GET',
    scheme: 'https',
    host: `site${n % 200}.example`,
    port: 443,
    path: `/p/${n}`,
    status: 200,
    bytes_up: 512,
    bytes_down: 20_000 + (n % 1000),
    duration_ms: 12,
    content_type: 'text/html',
    filename: '',
    category: 'news',
    action: 'allow',
    rule: 'default',
    flags: [],
    ...over,
  };
}

export function pipelineConfig(over: Partial<PipelineConfig> = {}): PipelineConfig {
  return { ...parseConfig('', 't.yaml').pipeline, ...over };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Events held in a stream (entries carry up to EVENTS_PER_ENTRY each), paged so a long stream is fine. */
export async function streamEventCount(redis: Redis, stream: string): Promise<number> {
  let n = 0;
  let from = '-';
  for (let i = 0; i < 10_000; i++) {
    const page = await redis.xrange(stream, from, '+', 'COUNT', 1000);
    n += eventsOfEntries(page).length;
    if (page.length < 1000) break;
    from = `(${page[page.length - 1]![0]}`;
  }
  return n;
}

/** Requests counted in each rollup table (the views' view of the events), for before/after deltas. */
export async function rollupRequests(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ROLLUP_TABLES) out[t] = Number((await store.one<{ n: number }>(`SELECT sum(requests) AS n FROM fairwatch.${t}`))?.n ?? 0);
  return out;
}

/** `after` minus `before`, table by table. */
export const rollupDelta = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(Object.keys(after).map((t) => [t, after[t]! - (before[t] ?? 0)]));
