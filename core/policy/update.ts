import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ProgressSink } from '../progress.ts';
import { ListError, loadLists, type CompiledLists } from './lists.ts';

// `fairwatch blocklists update --from URL|DIR|FILE.tar.gz`: fetch or copy a new list set beside
// the live one, check it loads, then swap directories by rename. The set it replaced stays as
// `<dir>.previous` for `blocklists rollback`. The organisation's own `local/` lists are carried
// over when the new set has none (UT1 never ships them).

export interface UpdateResult {
  dir: string;
  previous: string | null;
  stats: CompiledLists['stats'];
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new ListError(`${cmd} ${args.join(' ')} failed: ${err.trim().split('\n').slice(0, 3).join('; ')}`))));
  });
}

async function download(url: string, file: string, timeoutMs: number, onProgress?: ProgressSink): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  if (!res.ok || !res.body) throw new ListError(`download ${url}: HTTP ${res.status}`);
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  let done = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  if (onProgress) {
    body.on('data', (c: Buffer) => { done += c.length; onProgress({ step: 'downloading', done, total, unit: 'bytes' }); });
  }
  await pipeline(body, createWriteStream(file));
}

/** A directory that holds categories: itself, or the single folder an archive wraps them in (UT1: blacklists/). */
async function listRoot(dir: string): Promise<string> {
  let root = dir;
  for (let depth = 0; depth < 3; depth++) {
    const entries = await readdir(root, { withFileTypes: true });
    const dirs = entries.filter((e) => e.isDirectory());
    const hasLists = await Promise.all(dirs.map((d) => Promise.all(['domains', 'urls', 'expressions'].map((f) => existsSync(join(root, d.name, f)))).then((x) => x.some(Boolean))));
    if (hasLists.some(Boolean) || dirs.length !== 1) return root;
    root = join(root, dirs[0]!.name);
  }
  return root;
}

export async function updateBlocklists(target: string, from: string, opts: { timeoutMs?: number; onProgress?: ProgressSink } = {}): Promise<UpdateResult> {
  const say = (step: string) => opts.onProgress?.({ step, done: 0 });
  const staging = `${target}.incoming-${process.pid}`;
  const previous = `${target}.previous`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    if (/^https?:\/\//i.test(from)) {
      const archive = `${staging}.download.tar.gz`;
      try {
        await download(from, archive, opts.timeoutMs ?? 600_000, opts.onProgress);
        say('unpacking the archive');
        await run('tar', ['-xzf', archive, '-C', staging, '--no-same-owner']);
      } finally {
        await rm(archive, { force: true });
      }
    } else {
      const st = await stat(from).catch(() => null);
      if (!st) throw new ListError(`--from ${from}: no such file or directory`);
      say(st.isDirectory() ? 'copying the lists' : 'unpacking the archive');
      if (st.isDirectory()) await cp(from, staging, { recursive: true, verbatimSymlinks: true });
      else await run('tar', ['-xzf', from, '-C', staging, '--no-same-owner']);
    }
    const root = await listRoot(staging);
    if (!existsSync(join(root, 'local')) && existsSync(join(target, 'local'))) {
      await cp(join(target, 'local'), join(root, 'local'), { recursive: true });
    }
    say('checking the new lists');
    const lists = await loadLists(root);
    const real = lists.stats.categories.filter((c) => c.name !== 'local');
    if (real.length === 0 || lists.stats.entries === 0) throw new ListError(`--from ${from}: no categories with entries found (expected <category>/domains files)`);
    // swap: target → previous, new → target (renames on one file system)
    const ready = root === staging ? staging : `${target}.ready-${process.pid}`;
    if (ready !== staging) {
      await rm(ready, { recursive: true, force: true });
      await rename(root, ready);
    }
    let kept: string | null = null;
    if (existsSync(target)) {
      await rm(previous, { recursive: true, force: true });
      await rename(target, previous);
      kept = previous;
    }
    try {
      await rename(ready, target);
    } catch (e) {
      if (kept) await rename(previous, target);
      throw e;
    }
    return { dir: target, previous: kept, stats: { ...lists.stats, dir: target } };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(`${target}.ready-${process.pid}`, { recursive: true, force: true });
  }
}

/** Swaps the live set with `<dir>.previous` (so a second rollback undoes the first). */
export async function rollbackBlocklists(target: string): Promise<{ dir: string; restored: string }> {
  const previous = `${target}.previous`;
  if (!existsSync(previous)) throw new ListError(`nothing to roll back to: ${previous} does not exist (it is made by \`blocklists update\`)`);
  await loadLists(previous);
  const aside = join(dirname(target), `.${basename(target)}.rollback-${process.pid}`);
  await rename(target, aside);
  await rename(previous, target);
  await rename(aside, previous);
  return { dir: target, restored: previous };
}
