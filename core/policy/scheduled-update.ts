import type { Config } from '../config/schema.ts';
import { PolicySnapshot } from './engine.ts';
import { loadLists } from './lists.ts';
import { rollbackBlocklists, updateBlocklists } from './update.ts';

// The nightly list update (blocklists.update). The new set is checked before the swap (it must
// load and hold categories, updateBlocklists does that); after the swap it is loaded again as the
// proxy will load it, with the configured rules, and rolled back automatically when that fails or
// when a category a rule names, present in the old set, is missing from the new one (a rule would
// silently stop matching).

export type ScheduledUpdateOutcome =
  | { outcome: 'ok'; categories: number; entries: number; message: string }
  | { outcome: 'refused' | 'rolled-back'; message: string };

/** Category warnings of the configured rules over the lists in `dir`; throws when they do not load as a policy. */
async function missingCategories(config: Config, dir: string): Promise<string[]> {
  const lists = await loadLists(dir);
  const snap = new PolicySnapshot(config.policy, config.organisation.timezone, lists);
  return snap.warnings.filter((w) => /: category ".*" is not in /.test(w)).map((w) => /category "(.*)"/.exec(w)![1]!);
}

export async function runScheduledUpdate(config: Config, dir: string, source: string): Promise<ScheduledUpdateOutcome> {
  const before = new Set(await missingCategories(config, dir).catch(() => [] as string[]));
  let result;
  try {
    result = await updateBlocklists(dir, source);
  } catch (e) {
    return { outcome: 'refused', message: `the new set from ${source} was refused before the swap, the current lists are unchanged: ${(e as Error).message}` };
  }
  let why: string | null = null;
  try {
    const lost = (await missingCategories(config, dir)).filter((c) => !before.has(c));
    if (lost.length) why = `categories named by policy.rules are missing from the new set: ${[...new Set(lost)].join(', ')}`;
  } catch (e) {
    why = `the new set does not load as the policy: ${(e as Error).message}`;
  }
  if (why) {
    if (!result.previous) return { outcome: 'refused', message: `${why}; kept, as there was no previous set to roll back to` };
    await rollbackBlocklists(dir);
    return { outcome: 'rolled-back', message: `${why}; rolled back to the previous set (the refused one is in ${dir}.previous)` };
  }
  const cats = result.stats.categories.filter((c) => c.name !== 'local').length;
  return { outcome: 'ok', categories: cats, entries: result.stats.entries, message: `updated from ${source}: ${cats} categories, ${result.stats.entries} distinct names, ${result.stats.badLines} bad lines skipped` };
}
