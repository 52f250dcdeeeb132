import { PolicySnapshot } from '../core/policy/engine.ts';
import { loadLists } from '../core/policy/lists.ts';
import { localDay, readPersonState } from '../core/policy/person-state.ts';
import type { Platform } from '../core/platform.ts';
import type { PolicyTester } from './deps.ts';
import { HttpError } from './access.ts';

// "Why was this blocked?": the proxy's own engine (PolicySnapshot over the same lists and config),
// with the person's continues and quota from Redis. Not their work exceptions: which exceptions a
// named person holds is for directors (Active grants), and IT asking by name must not learn it.
// Every use is audited by the route. The compiled lists are kept for a minute so a busy tester page
// does not reload them each time.

const LISTS_TTL_MS = 60_000;

export function policyTester(p: Platform): PolicyTester {
  let cached: { at: number; engine: Promise<PolicySnapshot> } | null = null;
  const engine = () => {
    if (!cached || Date.now() - cached.at > LISTS_TTL_MS) {
      const built = loadLists(p.runtime.blocklistsDir).then((lists) => new PolicySnapshot(p.config.policy, p.config.organisation.timezone, lists));
      built.catch(() => { cached = null; });
      cached = { at: Date.now(), engine: built };
    }
    return cached.engine;
  };
  return async ({ user: name, url: raw, at }) => {
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
    } catch {
      throw new HttpError(400, 'url: not a URL (expected e.g. https://www.example.com/page)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(400, 'url: only http and https URLs go through the proxy');
    const user = await p.users.get(name).catch(() => null);
    if (!user) throw new HttpError(400, 'user: no such user in the directory');
    const pseudonym = p.pseudonyms.user(user.username);
    const state = { exceptions: [], ...(await readPersonState(p.redis, pseudonym, localDay(at, p.config.organisation.timezone), at.getTime())) };
    let snapshot: PolicySnapshot;
    try {
      snapshot = await engine();
    } catch (e) {
      throw new HttpError(503, `the block lists could not be loaded: ${(e as Error).message}`);
    }
    const decision = snapshot.decide({
      user: user.username, group: user.group, method: 'GET', scheme: url.protocol === 'https:' ? 'https' : 'http',
      host: url.hostname, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80), path: url.pathname, query: url.search.slice(1), at, state,
    });
    return { decision, userId: user.userId };
  };
}
