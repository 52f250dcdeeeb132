import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { counter } from '../core/metrics.ts';

// A burst of requests grows a worker thread's heap (the young generation to its cap, the old one
// with what survived), and V8 keeps what it grew: its own memory reducer starts only after a full
// collection, which a burst of short-lived requests seldom causes. So after a burst the workers
// stayed at their peak size until the next restart. Here, once a thread's event loop has been
// quiet for a while and its heap is well above where it last settled, one full collection that
// also shrinks the young generation and returns empty pages to the system gives the memory back.
// Quiet means nearly idle for half a minute, so the pause falls where almost nothing waits behind
// it; and because a thread runs slower for a second or two after such a collection (its young
// generation and compiled code grow back), a short lull between bursts is not enough.

export interface IdleMemoryOptions {
  /** how often the loop's busyness and the heap size are looked at */
  windowMs: number;
  /** a window whose event loop was busy for less than this share of it counts as quiet */
  quietUtilisation: number;
  /** quiet windows in a row before collecting */
  quietWindows: number;
  /** collect only when the heap has grown at least this far above where it last settled */
  grownBytes: number;
}

export const IDLE_MEMORY_DEFAULTS: IdleMemoryOptions = {
  windowMs: 5000,
  quietUtilisation: 0.02,
  quietWindows: 6,
  grownBytes: 16 * 2 ** 20,
};

export interface IdleMemoryState {
  /** quiet windows in a row so far */
  quiet: number;
  /** the heap a collection last left (lowered if V8 shrinks it further itself); none before the first */
  floor: number;
}

export const IDLE_MEMORY_START: IdleMemoryState = { quiet: 0, floor: Number.POSITIVE_INFINITY };

/**
 * One window's verdict: `busy` is the event loop's utilisation over it, `heapBytes` the heap now.
 * The first quiet spell always collects: it finds the size the thread settles at (and gives back
 * what starting up left), the floor later growth is measured from.
 */
export function idleMemoryStep(state: IdleMemoryState, busy: number, heapBytes: number, opts: IdleMemoryOptions): { state: IdleMemoryState; collect: boolean } {
  const quiet = busy < opts.quietUtilisation ? state.quiet + 1 : 0;
  const settled = state.floor !== Number.POSITIVE_INFINITY;
  const floor = settled ? Math.min(state.floor, heapBytes) : state.floor;
  const collect = quiet >= opts.quietWindows && (!settled || heapBytes - floor >= opts.grownBytes);
  return { state: { quiet: collect ? 0 : quiet, floor }, collect };
}

/** the V8 heap and the memory buffers hold outside it (dead ones included until collected: the reads not freed as they went on, read-buffers.ts) */
const heapBytes = () => {
  const h = getHeapStatistics();
  return h.total_heap_size + h.external_memory;
};

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

const collections = counter('fairwatch_proxy_idle_collections_total', 'Full collections a proxy thread ran once quiet after a burst, to give its grown heap back');
const released = counter('fairwatch_proxy_idle_released_bytes_total', 'Heap bytes those collections gave back');
const paused = counter('fairwatch_proxy_idle_collection_seconds_total', 'Time those collections held their thread');

/**
 * Watches this thread and gives grown heap back once quiet. Needs the process started with
 * --expose-gc (the proxy's worker process is, proxy/cluster.ts); without it this does nothing and
 * says so with `active: false`. `onCollect` hears each collection (heap bytes before and after).
 */
export function giveBackWhenIdle(opts: IdleMemoryOptions = IDLE_MEMORY_DEFAULTS, onCollect?: (before: number, after: number) => void): { stop(): void; active: boolean } {
  const gc = (globalThis as { gc?: Collect }).gc;
  if (typeof gc !== 'function') return { stop() {}, active: false };
  let state = IDLE_MEMORY_START;
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const before = heapBytes();
    const step = idleMemoryStep(state, busy, before, opts);
    state = step.state;
    if (!step.collect) return;
    const started = performance.now();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    paused.inc((performance.now() - started) / 1000);
    const after = heapBytes();
    state = { ...state, floor: after };
    // the collection itself must not count as busy time in the next window
    last = performance.eventLoopUtilization();
    collections.inc();
    released.inc(Math.max(0, before - after));
    onCollect?.(before, after);
  }, opts.windowMs);
  timer.unref();
  return { stop: () => clearInterval(timer), active: true };
}
