import { CHANNELS } from '../../core/channels.ts';
import { ROLES, type Role } from '../../core/identity/users.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerUsers({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const users = program.command('users').description('the user directory: add, list, disable, enable');

  users.command('add')
    .description('create a user; it, director and dpo accounts get a TOTP secret, printed once')
    .requiredOption('--username <name>', 'user name (letters, digits, . _ @ -)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--group <group>', 'policy group (default: policy.defaultGroup)')
    .option('--password-stdin', 'read the password from standard input (first line)')
    .action(act(async (opts: { username: string; role: string; group?: string; passwordStdin?: boolean }) => {
      if (!ROLES.includes(opts.role as Role)) throw new CommandFailure(`--role "${opts.role}": expected one of ${ROLES.join(', ')}`, 2);
      if (!opts.passwordStdin) throw new CommandFailure('--password-stdin is required: pipe the password in, e.g. `printf %s "$PW" | fairwatch users add … --password-stdin`', 2);
      const password = (await ctx.io.readStdin()).split(/\r?\n/)[0] ?? '';
      return ctx.withPlatform({ store: true }, async (p) => {
        const group = opts.group ?? p.config.policy.defaultGroup;
        if (!(group in p.config.policy.groups)) {
          throw new CommandFailure(`--group "${group}": not a group in policy.groups (${Object.keys(p.config.policy.groups).join(', ')})`, 2);
        }
        const { user, totpSecret } = await p.users.add({ username: opts.username, role: opts.role as Role, group, password });
        if (p.redis) await p.redis.publish(CHANNELS.usersChanged, user.username).catch(() => 0);
        ctx.io.out(`created ${user.username} (role ${user.role}, group ${user.group})\n`);
        if (totpSecret) ctx.io.out(`totp-secret: ${totpSecret}\n`);
        return 0;
      });
    }));

  users.command('list')
    .description('list users (never shows hashes or secrets)')
    .option('--json', 'one JSON object per line')
    .action(act(async (opts: { json?: boolean }) => ctx.withPlatform({ store: true }, async (p) => {
      const list = await p.users.list();
      if (opts.json) {
        for (const u of list) ctx.io.out(JSON.stringify({ username: u.username, role: u.role, group: u.group, disabled: u.disabled, created: u.createdAt }) + '\n');
        return 0;
      }
      const rows = [['USERNAME', 'ROLE', 'GROUP', 'STATUS', 'CREATED'], ...list.map((u) => [u.username, u.role, u.group, u.disabled ? 'disabled' : 'active', u.createdAt.slice(0, 19).replace('T', ' ')])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) ctx.io.out(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
      return 0;
    })));

  for (const [name, verb] of [['disable', 'disabled'], ['enable', 'enabled']] as const) {
    users.command(name)
      .description(name === 'disable' ? 'stop a user signing in or browsing (kept in the directory for the record)' : 'allow a disabled user again')
      .requiredOption('--username <name>', 'user name')
      .action(act(async (opts: { username: string }) => ctx.withPlatform({ store: true }, async (p) => {
        const u = name === 'disable' ? await p.users.disable(opts.username) : await p.users.enable(opts.username);
        // proxies drop a cached credential check at once rather than at its expiry
        if (p.redis) await p.redis.publish(CHANNELS.usersChanged, u.username).catch(() => 0);
        ctx.io.out(`${verb} ${u.username}\n`);
        return 0;
      })));
  }
}
