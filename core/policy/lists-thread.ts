import { Worker } from 'node:worker_threads';
import { compiledModulePath } from '../compiled-module.ts';
import { ListError, listsFromShared, type CompiledLists, type SharedLists } from './lists.ts';

// loadLists in a thread of its own, for the proxy's worker process: the table is built straight into
// shared memory that this thread (and every proxy worker thread) then wraps, while everything else
// the build allocated (file contents, parsed lines) goes with the compiler thread when it ends
// instead of waiting in this heap for a garbage collection. The caller's event loop stays free.

export type ListsReply = { ok: true; lists: SharedLists } | { ok: false; error: string; listError: boolean };

export function loadListsInThread(dir: string): Promise<CompiledLists> {
  return new Promise((resolve, reject) => {
    const w = new Worker(compiledModulePath(import.meta.url, './lists-thread-main.ts'), { workerData: { dir }, execArgv: [] });
    let settled = false;
    w.once('message', (m: ListsReply) => {
      settled = true;
      if (m.ok) resolve(listsFromShared(m.lists));
      else reject(m.listError ? new ListError(m.error) : new Error(m.error));
    });
    w.once('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    w.once('exit', (code) => {
      if (!settled) reject(new Error(`the list compiler thread ended without an answer (code ${code})`));
      settled = true;
    });
  });
}
