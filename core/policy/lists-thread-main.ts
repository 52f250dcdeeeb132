import { parentPort, workerData } from 'node:worker_threads';
import { ListError, loadLists, shareLists } from './lists.ts';
import type { ListsReply } from './lists-thread.ts';

// The list compiler thread (see lists-thread.ts): compiles one directory, answers, ends.
const { dir } = workerData as { dir: string };
loadLists(dir).then(
  (lists) => parentPort!.postMessage({ ok: true, lists: shareLists(lists) } satisfies ListsReply),
  (e: Error) => parentPort!.postMessage({ ok: false, error: e.message, listError: e instanceof ListError } satisfies ListsReply),
);
