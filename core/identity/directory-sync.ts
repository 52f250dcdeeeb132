import type { Redis } from 'ioredis';
import { auditLogFor } from '../audit/log.ts';
import type { Store } from '../storage/clickhouse.ts';
import { CHANNELS } from '../channels.ts';
import type { LdapConfig } from '../config/ldap-schema.ts';
import { LdapDirectory, type DirectoryUser } from './ldap-directory.ts';
import { mapDirectoryGroup } from './ldap-filter.ts';
import { normaliseUsername } from './pseudonym.ts';
import { validateUsername, type UserDirectory, type UserRecord } from './users.ts';

// `fairwatch users sync` and identity.ldap.syncCron: the local user directory follows the
// organisation's directory. Only records the sync made are managed (no local password: those
// people sign in with the directory's password); an account with a local password is never
// touched, whatever the directory holds under that name (local name wins, as at the proxy).
//   starter  active in the directory, in a mapped group (or identity.ldap.defaultGroup), no local
//            record → a local record (role staff, that group, no password)
//   leaver   a managed record, enabled, whose person is gone from the directory, disabled there or
//            in no mapped group → disabled, never deleted (the record and its history stay)
//   group    a managed record whose mapped group changed → the new group
// A managed record disabled here is not enabled again by the sync (someone may have disabled it on
// purpose); the plan notes it and `users enable` lets that person back. Every change is one audit
// row (target: the user id, never the name).

export type SyncChange =
  | { kind: 'add'; username: string; group: string }
  | { kind: 'disable'; username: string; reason: 'gone from the directory' | 'disabled in the directory' | 'in no mapped group' }
  | { kind: 'group'; username: string; from: string; to: string };

export interface SyncPlan {
  changes: SyncChange[];
  /** things left alone, for the operator to read */
  notes: string[];
}

type LocalUser = Pick<UserRecord, 'username' | 'group' | 'disabled' | 'passwordHash'>;

/** A record made by the sync: it has no local password. */
export const managedByDirectory = (u: Pick<UserRecord, 'passwordHash'>) => u.passwordHash === '';

/**
 * What a sync would change (pure). Throws when the directory lists nobody but managed accounts exist.
 * `linked`: names of records an OpenID provider or its SCIM provisioning owns (they have no password
 * either); the LDAP sync leaves them alone as it does local accounts.
 */
export function planSync(local: readonly LocalUser[], directory: readonly DirectoryUser[], cfg: Pick<LdapConfig, 'groups' | 'defaultGroup'>, linked: ReadonlySet<string> = new Set()): SyncPlan {
  const changes: SyncChange[] = [];
  const notes: string[] = [];
  const mine = new Map(local.map((u) => [normaliseUsername(u.username), u]));
  const ours = (u: LocalUser) => managedByDirectory(u) && !linked.has(normaliseUsername(u.username));
  const managed = local.filter((u) => ours(u) && !u.disabled).sort((a, b) => a.username.localeCompare(b.username));
  if (directory.length === 0 && managed.length > 0) {
    throw new Error(`the directory listed no users: refusing to disable ${managed.length} account(s); check identity.ldap.userBase and identity.ldap.syncFilter`);
  }
  /** name → 'active' or why it is not */
  const seen = new Map<string, string>();
  for (const d of [...directory].sort((a, b) => a.username.localeCompare(b.username))) {
    let name: string;
    try {
      name = validateUsername(d.username);
    } catch {
      notes.push(`${d.dn}: the name "${d.username}" cannot be a fairwatch user name; skipped`);
      continue;
    }
    if (seen.has(name)) {
      notes.push(`${d.dn}: "${name}" is listed twice in the directory; the first entry counts`);
      continue;
    }
    const group = mapDirectoryGroup(d.groups, cfg.groups, cfg.defaultGroup);
    const why = d.disabled ? 'disabled in the directory' : group === null ? 'in no mapped group' : null;
    seen.set(name, why ?? 'active');
    const rec = mine.get(name);
    if (why) continue;
    if (!rec) {
      changes.push({ kind: 'add', username: name, group: group! });
    } else if (!managedByDirectory(rec)) {
      notes.push(`${name}: has a local password, so it is a local account and left alone (local name wins)`);
    } else if (!ours(rec)) {
      notes.push(`${name}: signs in with an OpenID provider (or is provisioned by its SCIM); left to it`);
    } else if (rec.disabled) {
      notes.push(`${name}: active in the directory but disabled here; \`fairwatch users enable --username ${name}\` lets them back`);
    } else if (rec.group !== group) {
      changes.push({ kind: 'group', username: name, from: rec.group, to: group! });
    }
  }
  for (const u of managed) {
    const name = normaliseUsername(u.username);
    const state = seen.get(name);
    if (state === 'active') continue;
    changes.push({ kind: 'disable', username: name, reason: state === 'disabled in the directory' || state === 'in no mapped group' ? state : 'gone from the directory' });
  }
  return { changes, notes };
}

export function describeChange(c: SyncChange): string {
  if (c.kind === 'add') return `add ${c.username} (group ${c.group})`;
  if (c.kind === 'disable') return `disable ${c.username} (${c.reason})`;
  return `group ${c.username}: ${c.from} → ${c.to}`;
}

export interface SyncDeps {
  users: UserDirectory;
  store: Store;
  redis: Redis | null;
  /** who ran it, for the audit rows: 'operator' (command line) or 'analyser' (schedule) */
  actorRole: string;
}

/** Applies a plan: each change stored, then audited; the proxies are told once at the end. */
export async function applySync(plan: SyncPlan, d: SyncDeps): Promise<number> {
  const audit = auditLogFor(d.store, d.redis ?? undefined);
  let done = 0;
  for (const c of plan.changes) {
    const rec = c.kind === 'add'
      ? await d.users.addFromDirectory({ username: c.username, group: c.group })
      : c.kind === 'disable' ? await d.users.disable(c.username) : await d.users.setGroup(c.username, c.to);
    const action = c.kind === 'add' ? 'user-sync-add' : c.kind === 'disable' ? 'user-sync-disable' : 'user-sync-group';
    const reason = c.kind === 'add' ? `starter in the directory (group ${c.group})` : c.kind === 'disable' ? `leaver: ${c.reason}` : `group ${c.from} → ${c.to} in the directory`;
    await audit.append({ actor: 'system', actorRole: d.actorRole, action, target: rec.userId, reason, outcome: 'ok' });
    done++;
  }
  if (done > 0 && d.redis) await d.redis.publish(CHANNELS.usersChanged, 'directory-sync').catch(() => 0);
  return done;
}

/** Lists the directory, plans, and (unless `dryRun`) applies: the command and the schedule share it. */
export async function syncFromDirectory(cfg: LdapConfig, d: SyncDeps, dryRun: boolean): Promise<{ plan: SyncPlan; applied: number }> {
  const listed = await new LdapDirectory(cfg).listUsers();
  const records = await d.users.records();
  const linkedIds = new Set((await d.store.rows<{ user_id: string }>(`SELECT DISTINCT user_id FROM ${d.store.database}.external_accounts FINAL`)).map((r) => r.user_id));
  const linked = new Set(records.filter((u) => linkedIds.has(u.userId)).map((u) => normaliseUsername(u.username)));
  const plan = planSync(records, listed, cfg, linked);
  return { plan, applied: dryRun ? 0 : await applySync(plan, d) };
}
