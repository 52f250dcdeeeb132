import type { Config } from '../../core/config/schema.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import type { Categoriser } from './squid-import.ts';

// Categories for imported lines from the same policy engine the proxy uses (lists in the
// blocklists directory). The category depends on host and path only, so it is cached per URL
// (bounded) rather than decided again for every repeated request.

const CACHE_MAX = 200_000;

export async function policyCategoriser(config: Config, blocklistsDir: string): Promise<{ categoriser: Categoriser; warning: string | null }> {
  let engine: PolicySnapshot;
  try {
    engine = new PolicySnapshot(config.policy, config.organisation.timezone, await loadLists(blocklistsDir));
  } catch (e) {
    return { categoriser: { category: () => '' }, warning: `categories not applied: block lists in ${blocklistsDir} could not be loaded (${(e as Error).message})` };
  }
  const cache = new Map<string, string>();
  const at = new Date();
  return {
    warning: null,
    categoriser: {
      category(req, group) {
        const key = `${req.host}\u0000${req.path}`;
        let c = cache.get(key);
        if (c === undefined) {
          c = engine.decide({ user: null, group, method: req.method, scheme: req.scheme, host: req.host, port: req.port, path: req.path, at }).category;
          if (cache.size >= CACHE_MAX) cache.clear();
          cache.set(key, c);
        }
        return c;
      },
    },
  };
}
