import type { AuditLog } from '../audit/log.ts';
import type { ExternalAccounts } from './external-accounts.ts';
import type { Role, UserDirectory, UserRecord } from './users.ts';
import { UserError } from './users.ts';
import { scimIssuer } from './scim.ts';

// Accounts from an OpenID provider are made on first sign-in ("just in time") and kept in step
// with the provider's claims at every later one; each creation and change goes into the audit
// chain. A leaver is refused by the provider itself; their fairwatch record stays (disabled by IT,
// or by the provider's SCIM provisioning, core/identity/scim.ts) because events and authorisations
// refer to it.

export interface ProvisionInput {
  providerId: string;
  issuer: string;
  subject: string;
  username: string;
  /** null: no console role in the claims (staff) */
  role: Role | null;
  /** null: no group in the claims; a new record takes `fallbackGroup`, an existing one keeps its own */
  group: string | null;
  fallbackGroup: string;
}

export type Provisioned =
  | { ok: true; user: UserRecord; created: boolean }
  | { ok: false; code: 'name-taken' | 'account-missing' | 'disabled' | 'bad-name'; message: string };

export async function provisionExternal(deps: { users: UserDirectory; accounts: ExternalAccounts; audit: AuditLog }, i: ProvisionInput): Promise<Provisioned> {
  const linked = await deps.accounts.userIdOf(i.issuer, i.subject);
  const role: Role = i.role ?? 'staff';
  if (linked) {
    const user = await deps.users.getById(linked);
    if (!user) return { ok: false, code: 'account-missing', message: 'the fairwatch record linked to this account is missing: ask IT' };
    if (user.disabled) return { ok: false, code: 'disabled', message: 'this account is disabled in fairwatch: ask IT' };
    const group = i.group ?? user.group;
    if (user.role === role && user.group === group) return { ok: true, user, created: false };
    const next = await deps.users.setAccess(user.username, { role, group });
    await deps.audit.append({
      actor: user.userId, actorRole: role, action: 'user.access-from-directory', target: user.userId,
      reason: `oidc:${i.providerId}: role ${user.role} → ${role}, group ${user.group} → ${group}`, outcome: 'allowed',
    });
    return { ok: true, user: next, created: false };
  }
  // A local account of that name is somebody's own: taking it over on an email match would let
  // whoever controls the provider's claims become that person. The one exception is a record this
  // provider's directory made over SCIM (no password, marked scim:<provider>): the same person, so
  // their first sign-in links to it; a leaver's disabled record refuses them.
  const existing = await deps.users.get(i.username);
  if (existing && existing.passwordHash === '' && (await deps.accounts.linksOf(existing.userId)).some((l) => l.issuer === scimIssuer(i.providerId))) {
    if (existing.disabled) return { ok: false, code: 'disabled', message: 'this account is disabled in fairwatch: ask IT' };
    await deps.accounts.link({ issuer: i.issuer, subject: i.subject, userId: existing.userId, providerId: i.providerId });
    return provisionExternal(deps, i);
  }
  if (existing) {
    return { ok: false, code: 'name-taken', message: `a fairwatch account named ${i.username} already exists and is not linked to this sign-in: ask IT` };
  }
  let user: UserRecord;
  try {
    user = await deps.users.addExternal({ username: i.username, role, group: i.group ?? i.fallbackGroup });
  } catch (e) {
    if (e instanceof UserError) return { ok: false, code: e.code === 'FW_USER_EXISTS' ? 'name-taken' : 'bad-name', message: e.message.replace(/^--username /, 'user name ') };
    throw e;
  }
  await deps.accounts.link({ issuer: i.issuer, subject: i.subject, userId: user.userId, providerId: i.providerId });
  await deps.audit.append({
    actor: user.userId, actorRole: role, action: 'user.created-just-in-time', target: user.userId,
    reason: `oidc:${i.providerId}: role ${role}, group ${user.group}`, outcome: 'allowed',
  });
  return { ok: true, user, created: true };
}
