import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { PolicyHolder } from '../../core/policy/holder.ts';
import { loadListsInThread } from '../../core/policy/lists-thread.ts';
import { ListError, loadLists } from '../../core/policy/lists.ts';
import { sharePolicy } from '../../proxy/shared-policy.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FIXTURE_LISTS, req, TEST_POLICY_YAML } from './policy-config.ts';

// The proxy compiles the lists once, in a compiler thread, into shared memory; every worker thread
// wraps the same memory. Real threads here, running the compiled modules (dist/) as the proxy's do.

const WORK = '2026-11-24T10:00:00Z';
const URLS = ['https://bet365.com/', 'https://www.bet365.com/x', 'https://miniclip.com/', 'https://example.org/', 'https://facebook.com/'];
const sharedPolicyModule = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'proxy', 'shared-policy.js')).href;

/** A thread that builds the snapshot from what it is sent and answers decisions for URLS. */
function decideInThread(message: unknown): Promise<{ decisions: unknown[]; shared: boolean }> {
  const code = `
    const { parentPort } = await import('node:worker_threads');
    const { policyFromShared } = await import(${JSON.stringify(sharedPolicyModule)});
    parentPort.once('message', ({ policy, inputs }) => {
      const s = policyFromShared(policy);
      const table = s.lists.table.share();
      parentPort.postMessage({
        decisions: inputs.map((i) => { const d = s.decide(i); return [d.action, d.category, d.rule]; }),
        shared: [table.pool, table.slots].every((a) => a.buffer instanceof SharedArrayBuffer),
      });
    });
  `;
  const w = new Worker(`(async () => { ${code} })()`, { eval: true });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
    w.postMessage(message);
  });
}

describe('lists compiled once and shared with threads', () => {
  it('the compiler thread gives the same table as an in-process load, in shared memory', async () => {
    const here = await loadLists(FIXTURE_LISTS);
    const there = await loadListsInThread(FIXTURE_LISTS);
    expect(there.table.count).toBe(here.table.count);
    expect(there.categories).toEqual(here.categories);
    for (const a of Object.values(there.table.share())) if (typeof a !== 'number') expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const host of ['bet365.com', 'www.bet365.com', 'miniclip.com', 'example.org', 'nothing.invalid']) {
      const at = (l: typeof here) => { const e = l.table.get(host); return e < 0 ? null : [...l.sets.sets[l.table.setOf(e)]!].map((c) => l.categories[c]); };
      expect(at(there)).toEqual(at(here));
    }
  });

  it('a broken directory is refused by the compiler thread with the file and line', async () => {
    const tmp = tempDir('fw-shared-lists-');
    try {
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(join(tmp.dir, 'games'));
      writeFileSync(join(tmp.dir, 'games', 'domains'), Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
      const err = await loadListsInThread(tmp.dir).catch((e: Error) => e);
      expect(err).toBeInstanceOf(ListError);
      expect((err as Error).message).toMatch(/games\/domains:1: binary data/);
    } finally {
      tmp.cleanup();
    }
  });

  it('a worker thread decides exactly as the process that compiled the policy, over the same memory', async () => {
    const log = pino({ level: 'silent' });
    const holder = await PolicyHolder.open({
      config: parseConfig(TEST_POLICY_YAML),
      runtime: { dataDir: '/nonexistent', configPath: null, blocklistsDir: FIXTURE_LISTS, clickhouseUrl: null, redisUrl: null },
      log, loadLists: loadListsInThread,
    });
    const swapped: unknown[] = [];
    holder.onSwap((s) => swapped.push(s));
    const inputs = URLS.map((u) => req('staff', u, WORK));
    const local = inputs.map((i) => { const d = holder.current().decide(i); return [d.action, d.category, d.rule]; });
    expect(local.some((d) => d[0] === 'block')).toBe(true);
    const remote = await decideInThread({ policy: sharePolicy(holder.current()), inputs });
    expect(remote.shared).toBe(true);
    expect(remote.decisions).toEqual(local);
    // a reload hands the new snapshot to whoever listens (the proxy posts it to every thread)
    const r = await holder.reload('test');
    expect(r.ok).toBe(true);
    expect(swapped).toEqual([holder.current()]);
    await holder.close();
  });
});
