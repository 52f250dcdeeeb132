import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { CHANNELS } from '../channels.ts';
import { loadConfig, type LoadedConfig, type Runtime } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { PolicySnapshot } from './engine.ts';
import { loadLists, type CompiledLists } from './lists.ts';
import type { PolicyEngine } from './types.ts';
import { logRedisErrors } from '../storage/redis-errors.ts';

// Holds the current policy snapshot (lists + rules, immutable) and replaces it on reload: SIGHUP,
// a change under the lists directory or to the config file, or a message on CHANNELS.policyReload.
// The new snapshot is built beside the old one, which keeps serving until the swap (one assignment).
// A broken list directory or config keeps the old snapshot and logs exactly why.

export interface PolicyHolderOptions {
  config: Config;
  runtime: Runtime;
  log: Logger;
  /** re-read the config file on reload (default: when runtime.configPath is set) */
  reloadConfig?: boolean;
  env?: NodeJS.ProcessEnv;
  /** how a list directory is compiled (default loadLists; the proxy's worker process uses a compiler thread) */
  loadLists?: (dir: string) => Promise<CompiledLists>;
}

export interface ReloadResult {
  ok: boolean;
  /** why the reload was refused (old snapshot kept) */
  error?: string;
  snapshot: PolicySnapshot;
}

export class PolicyHolder {
  private snapshot!: PolicySnapshot;
  private config: Config;
  private watchers: FSWatcher[] = [];
  private dirWatcher: FSWatcher | null = null;
  private sub: Redis | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private reloading: Promise<ReloadResult> | null = null;
  private again = false;
  private readonly onHup = () => { void this.reload('SIGHUP'); };
  private readonly swapped: Array<(s: PolicySnapshot) => void> = [];
  /** the last refused reload, for status pages */
  lastError: string | null = null;
  reloads = 0;

  private constructor(private readonly opts: PolicyHolderOptions) {
    this.config = opts.config;
  }

  /** Loads the first snapshot; a broken list directory here is an error (there is nothing old to keep). */
  static async open(opts: PolicyHolderOptions): Promise<PolicyHolder> {
    const h = new PolicyHolder(opts);
    h.snapshot = await h.build(opts.config);
    h.logLoaded('loaded', h.snapshot);
    return h;
  }

  current(): PolicySnapshot & PolicyEngine {
    return this.snapshot;
  }

  /** Called with every snapshot swapped in by a reload (the proxy hands it to its worker threads). */
  onSwap(fn: (s: PolicySnapshot) => void): void {
    this.swapped.push(fn);
  }

  private async build(config: Config): Promise<PolicySnapshot> {
    const lists = await (this.opts.loadLists ?? loadLists)(this.opts.runtime.blocklistsDir);
    return new PolicySnapshot(config.policy, config.organisation.timezone, lists);
  }

  private logLoaded(what: string, s: PolicySnapshot): void {
    const st = s.lists.stats;
    this.opts.log.info({ dir: st.dir, categories: st.categories.length, entries: st.entries, badLines: st.badLines, loadMs: Math.round(st.loadMs) }, `policy ${what}`);
    for (const p of st.problems.slice(0, 5)) this.opts.log.warn(`${p.file}:${p.line}: ${p.why}`);
    if (st.badLines > 5) this.opts.log.warn(`${st.badLines} bad list lines in all (first ${Math.min(st.problems.length, 5)} shown; \`fairwatch blocklists stats\` shows more)`);
    for (const w of s.warnings) this.opts.log.warn(w);
  }

  /** Builds a new snapshot and swaps it in; on any failure keeps the old one. Concurrent calls coalesce. */
  reload(why = 'manual'): Promise<ReloadResult> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        let result: ReloadResult;
        do {
          this.again = false;
          result = await this.reloadOnce(why);
        } while (this.again);
        return result;
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  private async reloadOnce(why: string): Promise<ReloadResult> {
    try {
      let config = this.config;
      const { runtime } = this.opts;
      if ((this.opts.reloadConfig ?? Boolean(runtime.configPath)) && runtime.configPath) {
        const loaded: LoadedConfig = loadConfig(runtime, this.opts.env ?? process.env);
        config = loaded.config;
      }
      const next = await this.build(config);
      this.config = config;
      this.snapshot = next;
      this.reloads++;
      this.lastError = null;
      this.logLoaded(`reloaded (${why})`, next);
      for (const fn of this.swapped) fn(next);
      return { ok: true, snapshot: next };
    } catch (e) {
      const error = (e as Error).message;
      this.lastError = error;
      this.opts.log.error({ why }, `policy reload refused, the previous policy stays in force: ${error}`);
      return { ok: false, error, snapshot: this.snapshot };
    }
  }

  /** Reload on SIGHUP, on file changes (debounced) and on CHANNELS.policyReload. */
  async watch(opts: { redis?: Redis; signals?: boolean; files?: boolean; debounceMs?: number } = {}): Promise<void> {
    const debounceMs = opts.debounceMs ?? 500;
    const soon = (why: string) => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => { this.debounce = null; void this.reload(why); }, debounceMs);
    };
    if (opts.signals ?? true) process.on('SIGHUP', this.onHup);
    if (opts.files ?? true) {
      const { blocklistsDir, configPath } = this.opts.runtime;
      try {
        // `blocklists update` renames the directory itself: watch its parent too, and re-arm the
        // directory watcher (it follows the old inode) when the directory is replaced
        const armDir = () => {
          this.dirWatcher?.close();
          try {
            this.dirWatcher = watch(blocklistsDir, { recursive: true }, () => soon('lists changed'));
            this.dirWatcher.on('error', () => {});
          } catch {
            this.dirWatcher = null;
          }
        };
        armDir();
        const name = basename(blocklistsDir);
        this.watchers.push(watch(dirname(blocklistsDir), (_e, changed) => {
          if (changed === name) { armDir(); soon('lists replaced'); }
        }));
      } catch (e) {
        this.opts.log.warn(`cannot watch ${blocklistsDir} for changes (reload with SIGHUP instead): ${(e as Error).message}`);
      }
      if (configPath) {
        try {
          this.watchers.push(watch(configPath, () => soon('config changed')));
        } catch (e) {
          this.opts.log.warn(`cannot watch ${configPath}: ${(e as Error).message}`);
        }
      }
      for (const w of this.watchers) w.on('error', () => {});
    }
    if (opts.redis) {
      this.sub = opts.redis.duplicate();
      logRedisErrors(this.sub, this.opts.log, 'policy reload subscription');
      this.sub.on('message', () => soon('reload message'));
      await this.sub.subscribe(CHANNELS.policyReload);
    }
  }

  async close(): Promise<void> {
    process.off('SIGHUP', this.onHup);
    if (this.debounce) clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
    this.dirWatcher?.close();
    this.dirWatcher = null;
    this.watchers = [];
    if (this.sub) this.sub.disconnect();
    this.sub = null;
    await this.reloading;
  }
}

/** Asks every proxy to reload its policy (after editing lists or rules elsewhere). */
export function publishPolicyReload(redis: Redis, why = 'requested'): Promise<number> {
  return redis.publish(CHANNELS.policyReload, why);
}
