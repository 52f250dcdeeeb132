import type { Platform } from '../platform.ts';
import { PolicyHolder } from './holder.ts';
import { PersonStateCache } from './person-state.ts';

// What a proxy process needs from this folder, wired in one call:
//   const policy = await startPolicy(platform);
//   const state = policy.people.get(platform.pseudonyms.user(username));
//   const d = policy.holder.current().decide({ ...request, state });
//   on 'warn' continue: await policy.people.recordContinue(pseudonym, d.category, d.continueMinutes!)
//   on 'quota':        void policy.people.addQuotaUsage(pseudonym, d.category)
//   on close:          await policy.close()

export interface PolicyRuntime {
  holder: PolicyHolder;
  people: PersonStateCache;
  close(): Promise<void>;
}

export async function startPolicy(p: Platform, opts: { watch?: boolean } = {}): Promise<PolicyRuntime> {
  const holder = await PolicyHolder.open({ config: p.config, runtime: p.runtime, log: p.log, env: p.env });
  const people = new PersonStateCache(p.redis, { timezone: p.config.organisation.timezone, onError: (e) => p.log.warn(`policy state: ${e.message}`) });
  try {
    await people.start();
    if (opts.watch ?? true) await holder.watch({ redis: p.redis });
  } catch (e) {
    await holder.close();
    await people.stop();
    throw e;
  }
  return {
    holder,
    people,
    async close() {
      await holder.close();
      await people.stop();
    },
  };
}
