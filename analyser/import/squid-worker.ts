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

const setup = workerData as WorkerSetup;
const encoder = new SquidEncoder({ pseudonyms: new Pseudonymiser(Buffer.from(setup.pseudonymKey)), config: setup.config, categoriser: noCategories, groups: new Map(setup.groups) });
parentPort!.postMessage({ ready: true });
parentPort!.on('message', (m: { seq: number; job: BatchJob }) => {
  try {
    // copied, not transferred: a Buffer may be a view into memory the thread still uses (a few ms per batch)
    parentPort!.postMessage({ seq: m.seq, out: encoder.encode({ ...m.job, deferCategories: true }) });
  } catch (e) {
    parentPort!.postMessage({ seq: m.seq, error: (e as Error).stack ?? String(e) });
  }
});
