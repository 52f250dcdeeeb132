import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { loadKey } from '../../core/keys.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerImport({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const imp = program.command('import').description('bring existing logs into fairwatch');

  imp.command('squid-log')
    .description('import a Squid access.log (native, common or combined format); re-importing the same file adds nothing')
    .argument('<file>', 'the log file (give an absolute path when `fairwatch start` is running: it reads the file)')
    .option('--workers <n>', 'threads that parse and encode lines; default: one per core but one (1 to 4) for logs over 16 MB, none for smaller ones', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 64) throw new CommandFailure(`--workers: expected a whole number from 0 to 64, got "${v}"`);
      return n;
    })
    .action(act(async (file: string, opts: { workers?: number }) => ctx.withPlatform({ store: true }, async (p) => {
      const path = isAbsolute(file) ? file : resolve(file);
      if (!existsSync(path) || !statSync(path).isFile()) {
        throw new CommandFailure(`${file}: no such file${ctx.insidePrimary && !isAbsolute(file) ? ` (the running fairwatch resolved it in ${process.cwd()}; give an absolute path)` : ''}`);
      }
      // loaded here, not at start: every command (`fairwatch proxy` too) builds the whole command tree
      const [{ policyCategoriser }, { SquidImporter }, { defaultWorkerCount }] = await Promise.all([
        import('../../analyser/import/categoriser.ts'), import('../../analyser/import/squid-import.ts'), import('../../analyser/import/squid-workers.ts'),
      ]);
      const { categoriser, warning } = await policyCategoriser(p.config, p.runtime.blocklistsDir);
      if (warning) ctx.io.err(`fairwatch: warning: ${warning}\n`);
      const groups = new Map((await p.users.list()).map((u) => [u.username.toLowerCase(), u.group]));
      // a small log is done before threads would have started (bench/analyser.ts measures both)
      const count = opts.workers ?? (statSync(path).size > 16 * 1024 * 1024 ? defaultWorkerCount() : 0);
      const workers = count > 0 ? { count, pseudonymKey: loadKey(p.runtime.dataDir, 'pseudonym', p.env) } : undefined;
      const progress = ctx.io.progress();
      const r = await new SquidImporter({ store: p.store, pseudonyms: p.pseudonyms, config: p.config, categoriser, groups, workers })
        .importFile(path, path, progress.sink).finally(() => progress.end());
      for (const b of r.badLines) ctx.io.err(`${path}:${b.line}: ${b.reason}\n`);
      if (r.bad > r.badLines.length) ctx.io.err(`… and ${r.bad - r.badLines.length} more bad lines\n`);
      const days = p.config.retention.eventsDays;
      const expired = r.expired ? `, ${r.expired} skipped: older than retention.eventsDays (${days} days)` : '';
      ctx.io.out(`imported ${r.imported} events from ${r.lines} lines (${r.alreadyImported} already imported, ${r.bad} bad lines${expired})\n`);
      if (r.expired) {
        ctx.io.err(`fairwatch: ${r.expired} line${r.expired === 1 ? ' is' : 's are'} from before ${new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10)}, older than retention.eventsDays (${days} days): stored events that old are deleted at once, so they were not imported. To keep them, raise retention.eventsDays in the config and import again.\n`);
      }
      return r.bad > 0 && r.imported + r.alreadyImported + r.expired === 0 ? 1 : 0;
    })));
}
