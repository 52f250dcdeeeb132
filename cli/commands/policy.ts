import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import { listExceptions, localDay, readPersonState } from '../../core/policy/person-state.ts';
import type { PersonState } from '../../core/policy/types.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerPolicy({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const policy = program.command('policy').description('the acceptable-use policy: try a decision');

  policy.command('test')
    .description('print the decision for a user and URL as one JSON line {"action","category","rule","reason"}')
    .requiredOption('--user <name>', 'a user in the directory (their group decides)')
    .requiredOption('--url <url>', 'e.g. https://www.example.com/page')
    .option('--at <time>', 'ISO time, e.g. 2026-11-24T10:30:00Z (default: now)')
    .action(act(async (opts: { user: string; url: string; at?: string }) => {
      let url: URL;
      try {
        url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(opts.url) ? opts.url : `http://${opts.url}`);
      } catch {
        throw new CommandFailure(`--url "${opts.url}": not a URL (expected e.g. https://www.example.com/page)`, 2);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CommandFailure(`--url "${opts.url}": only http and https URLs go through the proxy`, 2);
      const at = opts.at === undefined ? new Date() : new Date(opts.at);
      if (Number.isNaN(at.getTime())) throw new CommandFailure(`--at "${opts.at}": not a time (expected ISO 8601, e.g. 2026-11-24T10:30:00Z)`, 2);
      return ctx.withPlatform({ store: true }, async (p) => {
        const user = await p.users.get(opts.user);
        if (!user) throw new CommandFailure(`--user "${opts.user}": no such user in the directory (see \`fairwatch users list\`)`, 1);
        const lists = await loadLists(p.runtime.blocklistsDir).catch((e: Error) => { throw new CommandFailure(e.message); });
        const engine = new PolicySnapshot(p.config.policy, p.config.organisation.timezone, lists);
        // inside a running fairwatch, Redis is open: include the person's exceptions, continues, quota
        let state: PersonState | undefined;
        if (p.redis) {
          const pseudonym = p.pseudonyms.user(user.username);
          const exceptions = (await listExceptions(p.redis, at.getTime())).filter((g) => g.userPseudonym === pseudonym);
          state = { exceptions, ...(await readPersonState(p.redis, pseudonym, localDay(at, p.config.organisation.timezone), at.getTime())) };
        }
        const d = engine.decide({
          user: user.username, group: user.group, method: 'GET', scheme: url.protocol === 'https:' ? 'https' : 'http',
          host: url.hostname, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80), path: url.pathname, query: url.search.slice(1), at, state,
        });
        ctx.io.out(JSON.stringify({ action: d.action, category: d.category, rule: d.rule, reason: d.reason }) + '\n');
        return 0;
      });
    }));
}
