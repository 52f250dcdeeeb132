import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../../core/config/schema.ts';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { noCategories, SquidEncoder, type BatchJob } from './squid-encoder.ts';

// A worker thread of `import squid-log`: parses and encodes the batches it is sent. It has no block
// lists (they cannot be shared between threads, and a copy each would cost seconds and hundreds of
// MB): categories are left to the importing thread (BatchJob.deferCategories). See squid-workers.ts.

export interface WorkerSetup {
  config: Config;
  pseudonymKey: Uint8Array;
  groups: Array<[string, string]>;
}

/**
 * The memory of a batch's block and row index, handed over rather than copied (about 15 MB a batch).
 * Only buffers of their own: a small Buffer can be a slice of Node's shared pool, which this thread
 * goes on using, and is copied.
 */
function owned(...views: Array<ArrayBufferView | undefined>): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const v of views) if (v && v.buffer instanceof ArrayBuffer && v.buffer.byteLength > Buffer.poolSize && !out.includes(v.buffer)) out.push(v.buffer);
  return out;
}

const setup = workerData as WorkerSetup;
const encoder = new SquidEncoder({ pseudonyms: new Pseudonymiser(Buffer.from(setup.pseudonymKey)), config: setup.config, categoriser: noCategories, groups: new Map(setup.groups) });
parentPort!.postMessage({ ready: true });
parentPort!.on('message', (m: { seq: number; job: BatchJob }) => {
  try {
    const out = encoder.encode({ ...m.job, deferCategories: true });
    parentPort!.postMessage({ seq: m.seq, out }, owned(out.body, out.categoryOfRow));
  } catch (e) {
    parentPort!.postMessage({ seq: m.seq, error: (e as Error).stack ?? String(e) });
  }
});
