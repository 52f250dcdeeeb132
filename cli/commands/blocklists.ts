import { runtimeFromEnv } from '../../core/config/load.ts';
import { loadLists } from '../../core/policy/lists.ts';
import { rollbackBlocklists, updateBlocklists } from '../../core/policy/update.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

// Lists live in files (FAIRWATCH_BLOCKLISTS), not in the store, so these commands run in the CLI
// process itself; a running proxy notices the change (file watch) and reloads.

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

export function registerBlocklists({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const cmd = program.command('blocklists').description('the squidGuard/UT1-format category lists: stats, update, rollback');

  cmd.command('stats')
    .description('categories with entry counts, load time and memory')
    .option('--json', 'one JSON object')
    .action(act(async (opts: { json?: boolean }) => {
      const dir = runtimeFromEnv().blocklistsDir;
      global.gc?.();
      const before = process.memoryUsage();
      const lists = await loadLists(dir).catch((e: Error) => { throw new CommandFailure(e.message); });
      const after = process.memoryUsage();
      const s = lists.stats;
      const heapAndBuffers = Math.max(0, after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers);
      if (opts.json) {
        ctx.io.out(JSON.stringify({ dir, categories: s.categories, entries: s.entries, badLines: s.badLines, problems: s.problems, loadMs: Math.round(s.loadMs), tableBytes: s.tableBytes, memoryBytes: heapAndBuffers, rssBytes: after.rss }) + '\n');
        return 0;
      }
      const rows = [['CATEGORY', 'DOMAINS', 'URLS', 'EXPRESSIONS', 'BAD LINES', 'ALSO NAMED'],
        ...s.categories.map((c) => [c.name, String(c.domains), String(c.urls), String(c.expressions), String(c.badLines), c.aliases.join(' ')])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      ctx.io.out(`blocklists: ${dir}\n`);
      for (const r of rows) ctx.io.out(r.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd() + '\n');
      ctx.io.out(`${s.entries} distinct names in ${s.categories.length} categories; loaded in ${Math.round(s.loadMs)} ms; table ${mb(s.tableBytes)}; memory added ${mb(heapAndBuffers)} (process RSS ${mb(after.rss)})\n`);
      if (s.badLines > 0) {
        ctx.io.out(`${s.badLines} bad lines skipped; the first ${s.problems.length}:\n`);
        for (const p of s.problems) ctx.io.out(`  ${p.file}:${p.line}: ${p.why}\n`);
      }
      return 0;
    }));

  cmd.command('update')
    .description('replace the lists from a URL or file (tar.gz) or a directory; checked before the swap, the old set kept for rollback')
    .requiredOption('--from <source>', 'https://…/blacklists.tar.gz, a local .tar.gz, or a directory')
    .action(act(async (opts: { from: string }) => {
      const dir = runtimeFromEnv().blocklistsDir;
      const progress = ctx.io.progress();
      const r = await updateBlocklists(dir, opts.from, { onProgress: progress.sink })
        .catch((e: Error) => { throw new CommandFailure(`blocklists update: ${e.message} (the current lists are unchanged)`); })
        .finally(() => progress.end());
      const cats = r.stats.categories.filter((c) => c.name !== 'local').length;
      ctx.io.out(`updated ${dir}: ${cats} categories, ${r.stats.entries} distinct names, ${r.stats.badLines} bad lines skipped\n`);
      if (r.previous) ctx.io.out(`previous set kept in ${r.previous} (\`fairwatch blocklists rollback\` restores it)\n`);
      return 0;
    }));

  cmd.command('rollback')
    .description('swap the live lists with the set the last update replaced')
    .action(act(async () => {
      const dir = runtimeFromEnv().blocklistsDir;
      const r = await rollbackBlocklists(dir).catch((e: Error) => { throw new CommandFailure(`blocklists rollback: ${e.message}`); });
      ctx.io.out(`restored the previous lists into ${r.dir}; the replaced set is now ${r.restored}\n`);
      return 0;
    }));
}
