import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Argument, Option } from 'commander';
import { runtimeFromEnv } from '../../core/config/load.ts';
import { auditLogFor } from '../../core/audit/log.ts';
import { backupTo, restoreData, restoreKeys } from '../../core/ops/backup.ts';
import { rotateKey } from '../../core/ops/rotate-keys.ts';
import type { Platform } from '../../core/platform.ts';
import { currentHolder } from '../../core/storage/datadir.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

// Operations commands: backup, restore, key rotation. Backup runs beside a live fairwatch (through
// its control socket when it owns the data directory); restore and key rotation change what a running
// process holds in memory (keys, tables), so they refuse while one runs on the data directory.

function dirArg(ctx: CommandContext, flag: string, value: string): string {
  if (isAbsolute(value)) return value;
  if (ctx.insidePrimary) {
    throw new CommandFailure(`${flag} ${value}: give an absolute path (the running fairwatch, process ${process.pid}, carries this out from its own directory)`, 2);
  }
  return resolve(value);
}

function refuseWhileRunning(ctx: CommandContext, what: string): void {
  const holder = ctx.insidePrimary ? { pid: process.pid, role: 'start' } : currentHolder(runtimeFromEnv().dataDir);
  if (holder) throw new CommandFailure(`${what} needs fairwatch stopped: process ${holder.pid} (fairwatch ${holder.role}) is using this data directory`);
}

async function audit(p: Platform, action: string, target: string, outcome = 'ok'): Promise<void> {
  try {
    await auditLogFor(p.store, p.redis).append({ actor: 'system', actorRole: 'operator', action, target, reason: 'fairwatch command line', outcome });
  } catch (e) {
    p.log.warn({ err: (e as Error).message, action }, 'could not write the audit row');
  }
}

export function registerOps({ program, act }: ProgramHandle, ctx: CommandContext): void {
  program.command('backup')
    .description('copy ClickHouse tables, Redis and the keys into a new directory (works while fairwatch runs)')
    .requiredOption('--to <dir>', 'a new, empty directory (keep it as safe as the data: it holds the keys)')
    .action(act(async (opts: { to: string }) => {
      const dir = dirArg(ctx, '--to', opts.to);
      // fail before opening anything (the engine takes seconds to load)
      if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
        throw new CommandFailure(`--to ${dir}: exists and is not an empty directory; give a new directory for each backup`);
      }
      return ctx.withPlatform({ store: true, redis: true }, async (p) => {
        const progress = ctx.io.progress();
        const { manifest } = await backupTo(p, dir, progress.sink).finally(() => progress.end());
        ctx.io.out(`backup written to ${dir}\n`);
        for (const t of manifest.tables) ctx.io.out(`  table ${t.name}: ${t.rows} rows\n`);
        if (manifest.redis) ctx.io.out(`  redis: ${manifest.redis.keys} keys\n`);
        ctx.io.out(`  keys: ${manifest.keys.map((k) => k.name).join(', ') || 'none (from the environment)'}\n`);
        if (manifest.keys_from_env.length) ctx.io.err(`note: ${manifest.keys_from_env.join(', ')} come from the environment and are not in the backup: keep them in your secret store\n`);
        if (manifest.spool_bytes > 0) ctx.io.err(`note: ${manifest.spool_bytes} bytes of events were still in the disk spool (Redis unreachable) and are not in this backup\n`);
        await audit(p, 'backup', dir);
        return 0;
      });
    }));

  program.command('restore')
    .description('restore a backup into an empty data directory (fairwatch must be stopped)')
    .requiredOption('--from <dir>', 'a directory written by `fairwatch backup`')
    .action(act(async (opts: { from: string }) => {
      const dir = dirArg(ctx, '--from', opts.from);
      refuseWhileRunning(ctx, 'restore');
      const runtime = runtimeFromEnv();
      // Keys first: opening the data directory would otherwise create new ones.
      const manifest = await restoreKeys(dir, runtime.dataDir, process.env);
      return ctx.withPlatform({ store: true, redis: true }, async (p) => {
        const progress = ctx.io.progress();
        const r = await restoreData(p, dir, manifest, progress.sink).finally(() => progress.end());
        ctx.io.out(`restored ${dir} (made ${manifest.created_at}) into ${p.runtime.dataDir}\n`);
        for (const t of r.tables) ctx.io.out(`  table ${t.name}: ${t.rows} rows\n`);
        ctx.io.out(`  redis: ${r.redisKeys} keys\n`);
        for (const w of r.warnings) ctx.io.err(`warning: ${w}\n`);
        await audit(p, 'restore', dir);
        return 0;
      });
    }));

  const keys = program.command('keys').description('key management');
  keys.command('rotate')
    .description('replace the pseudonym or report-master key (fairwatch must be stopped); see docs/operators/backup.md, "Key rotation", for the effect on old data')
    .addArgument(new Argument('<key>', 'which key').choices(['pseudonym', 'report-master']))
    .addOption(new Option('--new-key-stdin', 'read the new key (64 hex characters) from standard input: for keys kept in environment variables'))
    .action(act(async (name: 'pseudonym' | 'report-master', opts: { newKeyStdin?: boolean }) => {
      refuseWhileRunning(ctx, 'key rotation');
      const newKeyHex = opts.newKeyStdin ? (await ctx.io.readStdin()).trim() : undefined;
      if (newKeyHex !== undefined && !/^[0-9a-fA-F]{64}$/.test(newKeyHex)) throw new CommandFailure('new key: expected 64 hexadecimal characters (32 bytes) on standard input', 2);
      return ctx.withPlatform({ store: true, redis: true }, async (p) => {
        const r = await rotateKey(p, name, newKeyHex);
        ctx.io.out(`rotated ${name}: key ${r.oldKeyId} → ${r.newKeyId}\n`);
        if (name === 'report-master') ctx.io.out(`  reports re-wrapped: ${r.rewrapped}${r.alreadyNew ? ` (${r.alreadyNew} already under the new key)` : ''}\n`);
        else ctx.io.out(`  old events keep their pseudonyms; acceptable-use acceptances carried over: ${r.acceptancesCarried}\n`);
        if (r.retiredAt) ctx.io.out(`  old key kept at ${r.retiredAt} (delete it after your next backup${name === 'pseudonym' ? ' to make older records unlinkable' : ''})\n`);
        if (r.fromEnv) ctx.io.out(`  now put the new key in ${name === 'pseudonym' ? 'FAIRWATCH_PSEUDONYM_KEY' : 'FAIRWATCH_REPORT_MASTER_KEY'} for every fairwatch process and restart them\n`);
        else ctx.io.out('  restart every fairwatch process that uses this key (proxies, console, analyser)\n');
        await audit(p, `key-rotate:${name}`, `${r.oldKeyId}->${r.newKeyId}`);
        return 0;
      });
    }));
}
