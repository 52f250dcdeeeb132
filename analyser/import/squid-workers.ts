import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { compiledModulePath } from '../../core/compiled-module.ts';
import type { BatchJob, BatchOut } from './squid-encoder.ts';
import type { WorkerSetup } from './squid-worker.ts';

// Worker threads for `import squid-log`. Parsing and encoding a log line costs several times more
// JavaScript than cutting, hashing and categorising it, so on a large log one thread is the limit
// (bench/analyser.ts). The batches are independent (each has its own line numbers, event ids and ledger entry), so they are
// spread over threads and the importing thread only cuts and hashes batches, adds categories (one
// decision per distinct request) and inserts.

/** The worker's compiled module: worker threads start without a TypeScript loader. */
function workerCode(): URL {
  return pathToFileURL(compiledModulePath(import.meta.url, './squid-worker.ts'));
}

/**
 * Worker threads for a large log: one per core but one, at most 4. The importing thread and the
 * engine's insert take about a core between them; on the 2-core development machine one worker
 * beat two in 6 of 8 alternating runs (118k against 113k lines/s), with less CPU per line.
 */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

export class SquidWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (o: BatchOut) => void; reject: (e: Error) => void; slot: Slot }>();
  private readonly idle: Array<() => void> = [];
  private seq = 0;
  private constructor() {}

  static async start(count: number, setup: WorkerSetup): Promise<SquidWorkerPool> {
    const pool = new SquidWorkerPool();
    try {
      await Promise.all(Array.from({ length: count }, () => pool.spawn(setup)));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private spawn(setup: WorkerSetup): Promise<void> {
    const worker = new Worker(workerCode(), { workerData: setup });
    const slot: Slot = { worker, busy: true };
    this.slots.push(slot);
    return new Promise<void>((ready, failed) => {
      worker.on('message', (m: { ready?: boolean; seq?: number; out?: BatchOut; error?: string }) => {
        if (m.ready) {
          this.release(slot);
          ready();
          return;
        }
        const w = this.waiting.get(m.seq!);
        if (!w) return;
        this.waiting.delete(m.seq!);
        this.release(slot);
        if (m.error) w.reject(new Error(`import worker: ${m.error}`));
        else w.resolve(m.out!);
      });
      const fail = (e: Error) => {
        failed(e);
        for (const [k, w] of this.waiting) {
          if (w.slot !== slot) continue;
          this.waiting.delete(k);
          w.reject(e);
        }
      };
      worker.on('error', fail);
      worker.on('exit', (code) => { if (code !== 0) fail(new Error(`import worker exited with code ${code}`)); });
    });
  }

  private release(slot: Slot): void {
    slot.busy = false;
    this.idle.shift()?.();
  }

  /** Waits for a free worker and sends it the job; `result` settles when the worker is done. */
  async submit(job: BatchJob): Promise<{ result: Promise<BatchOut> }> {
    let slot = this.slots.find((s) => !s.busy);
    for (let i = 0; !slot && i < 1_000_000; i++) {
      await new Promise<void>((r) => this.idle.push(r));
      slot = this.slots.find((s) => !s.busy);
    }
    if (!slot) throw new Error('import workers: none free');
    slot.busy = true;
    const seq = ++this.seq;
    const result = new Promise<BatchOut>((resolve, reject) => this.waiting.set(seq, { resolve, reject, slot: slot! }));
    slot.worker.postMessage({ seq, job });
    return { result }; // wrapped: an async function's returned promise would be awaited
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
