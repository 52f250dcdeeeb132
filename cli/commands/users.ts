import { CHANNELS } from '../../core/channels.ts';
import { ROLES, type Role } from '../../core/identity/users.ts';
import { describeChange, syncFromDirectory } from '../../core/identity/directory-sync.ts';
import { issueScimToken } from '../../core/identity/scim-token.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerUsers({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const users = program.command('users').description('the user directory: add, list, disable, enable, sync, scim-token');

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

  users.command('sync')
    .description('bring starters, leavers and group changes from the directory (identity.ldap); leavers are disabled, never deleted')
    .option('--dry-run', 'print what would change and change nothing')
    .action(act(async (opts: { dryRun?: boolean }) => ctx.withPlatform({ store: true, redis: true }, async (p) => {
      const ldap = p.config.identity.ldap;
      if (!ldap) throw new CommandFailure('identity.ldap is not set in the config: `users sync` reads the directory named there (see docs/operators/sign-in-active-directory.md)', 2);
      let result;
      try {
        result = await syncFromDirectory(ldap, { users: p.users, store: p.store, redis: p.redis, actorRole: 'operator' }, opts.dryRun ?? false);
      } catch (e) {
        throw new CommandFailure(`users sync: ${(e as Error).message}`, 1);
      }
      const { plan, applied } = result;
      for (const c of plan.changes) ctx.io.out(`${opts.dryRun ? 'would ' : ''}${describeChange(c)}\n`);
      for (const n of plan.notes) ctx.io.out(`note: ${n}\n`);
      ctx.io.out(opts.dryRun
        ? `dry run: ${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'} (nothing written)\n`
        : `${applied} change${applied === 1 ? '' : 's'} applied\n`);
      return 0;
    })));

  users.command('scim-token')
    .description('make a new bearer token for SCIM provisioning (identity.scim), print it once and keep only its hash; the old token stops working')
    .action(act(async () => ctx.withPlatform({}, async (p) => {
      const scim = p.config.identity.scim;
      if (!scim) throw new CommandFailure('identity.scim is not set in the config: see docs/operators/sign-in-entra-id.md (Starters and leavers)', 2);
      if (p.env[scim.tokenEnv]) throw new CommandFailure(`${scim.tokenEnv} is set, and the console uses it before any token made here: unset it first`, 2);
      const { token, path } = issueScimToken(p.runtime.dataDir, scim);
      ctx.io.out(`${token}\n`);
      ctx.io.err(`the token is printed once; its SHA-256 is in ${path}. Paste it as the Secret Token in the provider's provisioning settings.\n`);
      return 0;
    })));
}
