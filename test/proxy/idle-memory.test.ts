import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { giveBackWhenIdle, IDLE_MEMORY_START, idleMemoryStep, type IdleMemoryState } from '../../proxy/idle-memory.ts';

const MB = 2 ** 20;
const opts = { windowMs: 5000, quietUtilisation: 0.02, quietWindows: 2, grownBytes: 16 * MB };

/** feeds windows of (busy, heap MB) and returns which ones collected, as the thread would (a collection leaves `left` MB) */
function run(windows: Array<[number, number]>, left = 20): boolean[] {
  let state: IdleMemoryState = IDLE_MEMORY_START;
  return windows.map(([busy, heap]) => {
    const step = idleMemoryStep(state, busy, heap * MB, opts);
    state = step.collect ? { ...step.state, floor: left * MB } : step.state;
    return step.collect;
  });
}

describe('giving a burst\'s heap back once quiet (the decision)', () => {
  it('collects the first time the thread is quiet, to learn where it settles', () => {
    expect(run([[0.5, 40], [0.001, 40], [0.001, 40]])).toEqual([false, false, true]);
  });

  it('then only when the heap has grown well above that, and never while busy', () => {
    // settles at 20; a burst takes it to 70 while busy; quiet again: one collection, then none
    expect(run([[0, 30], [0, 30], [0.9, 50], [0.9, 70], [0.3, 70], [0.01, 70], [0.01, 70], [0.01, 21], [0.01, 21], [0.01, 21]]))
      .toEqual([false, true, false, false, false, false, true, false, false, false]);
  });

  it('a busy window in a quiet spell starts the count again', () => {
    expect(run([[0, 30], [0, 30], [0.5, 60], [0.01, 60], [0.5, 60], [0.01, 60], [0.01, 60]]))
      .toEqual([false, true, false, false, false, false, true]);
  });

  it('growth under the threshold is left alone, and a heap V8 shrank itself lowers the floor', () => {
    expect(run([[0, 30], [0, 30], [0, 35], [0, 35], [0, 35]])).toEqual([false, true, false, false, false]);
    // settles at 20, V8 brings it to 12 by itself; 12 + 16 = 28 is then enough growth
    expect(run([[0, 30], [0, 30], [0, 12], [0.5, 29], [0, 29], [0, 29]])).toEqual([false, true, false, false, false, true]);
  });
});

describe('giving a burst\'s heap back once quiet (a real thread)', () => {
  it('without --expose-gc it stays out of the way', () => {
    const w = giveBackWhenIdle();
    w.stop();
    expect(w.active).toBe(typeof (globalThis as { gc?: unknown }).gc === 'function');
  });

  it('settles, leaves a busy burst alone, then gives most of what the burst grew back once quiet', async () => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'idle-heap.ts')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { phase?: string; before?: number; after?: number; active?: boolean; held?: number });
    expect(lines[0]).toEqual({ active: true });
    const collections = lines.filter((l) => l.before !== undefined);
    expect(collections.map((c) => c.phase)).toEqual(['settling', 'quiet']);
    expect(lines.find((l) => l.phase === 'busy')?.held).toBe(1_000_000);
    const quiet = collections[1]!;
    // the burst held a million small objects: tens of MB, nearly all of it given back
    expect(quiet.before! - quiet.after!).toBeGreaterThan(40 * MB);
    expect(quiet.after!).toBeLessThan(collections[0]!.after! + 8 * MB);
  }, 60_000);
});
