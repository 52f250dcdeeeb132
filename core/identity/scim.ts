import { z } from 'zod';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../audit/log.ts';
import { CHANNELS } from '../channels.ts';
import type { ScimConfig } from '../config/schema.ts';
import { FairwatchError } from '../errors.ts';
import type { ExternalAccounts } from './external-accounts.ts';
import { normaliseUsername } from './pseudonym.ts';
import { signOutEverywhere } from './sign-in-binding.ts';
import { UserError, validateUsername, type UserDirectory, type UserRecord } from './users.ts';

// SCIM 2.0 users (RFC 7643/7644) as Entra ID's automatic user provisioning sends them. A SCIM user
// is a fairwatch record without a password (as a just-in-time OpenID account), marked in
// external_accounts as managed by SCIM for one OpenID provider, so that provider's sign-in and
// the SCIM user are one record. The rules:
//   - a local account (it has a password) is never created over, changed or disabled: 409;
//   - a leaver (active false, or DELETE) is disabled, never deleted, their console sessions and
//     shared-computer sign-ins end; the record keeps its history;
//   - the console role is never set through SCIM (new records are staff); roles in a request are refused;
//   - the group follows SCIM group membership through identity.scim.groups;
//   - every change is one audit row naming the user id.

export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCIM_LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const SCIM_PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType = 'invalidFilter' | 'invalidValue' | 'invalidSyntax' | 'invalidPath' | 'mutability' | 'uniqueness' | 'noTarget' | 'tooMany';

/** A refusal answered as a SCIM error body (RFC 7644 §3.12). */
export class ScimError extends FairwatchError {
  constructor(readonly status: 400 | 401 | 404 | 409 | 413 | 415 | 429 | 503, message: string, readonly scimType?: ScimType) {
    super('FW_SCIM', message, { httpStatus: status });
  }
  body() {
    return { schemas: [SCIM_ERROR], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}), detail: this.message };
  }
}

/** Entra has sent booleans as the strings "True" and "False". */
const boolish = z.union([z.boolean(), z.enum(['True', 'False', 'true', 'false']).transform((s) => s.toLowerCase() === 'true')]);

/** roles, role and entitlements decide nothing here: a request naming any is refused rather than half-applied */
const ROLE_ATTR = /^(roles|role|entitlements)(\b|\[|\.|$)/i;
const noRoles = z.array(z.unknown()).max(0, 'fairwatch console roles are not set through SCIM (give them with the OpenID role claim)').optional();

export const createUserSchema = z.looseObject({
  schemas: z.array(z.string()).optional(),
  userName: z.string().min(1, 'required').max(256),
  externalId: z.string().max(256).optional(),
  active: boolish.default(true),
  roles: noRoles,
  role: z.undefined({ error: 'fairwatch console roles are not set through SCIM' }).optional(),
  entitlements: noRoles,
});

// Entra adds a "name" (addMember, removeMember) to group operations: extra keys are ignored
const patchOp = z.looseObject({
  op: z.string().regex(/^(add|replace|remove)$/i, 'expected add, replace or remove'),
  path: z.string().max(500).optional(),
  value: z.unknown().optional(),
});
export const patchSchema = z.looseObject({
  schemas: z.array(z.string()).refine((s) => s.includes(SCIM_PATCH), { message: `must include ${SCIM_PATCH}` }),
  Operations: z.array(patchOp).min(1).max(100),
});

/** A zod failure as a SCIM error naming the field. */
export function scimValidationError(e: z.ZodError): ScimError {
  const issue = e.issues[0]!;
  const field = issue.path.map(String).join('.') || '(body)';
  return new ScimError(400, `${field}: ${issue.message}`, issue.path[0] === 'roles' || issue.path[0] === 'role' || issue.path[0] === 'entitlements' ? 'mutability' : 'invalidValue');
}

export interface UserChange {
  active?: boolean;
}

/**
 * What a PatchOp asks of a user (pure). Attributes fairwatch does not keep (names, e-mail, title,
 * the enterprise extension) are accepted and ignored; userName cannot change (it is the record's
 * name); roles are refused.
 */
export function interpretPatch(ops: z.infer<typeof patchSchema>['Operations'], current: Pick<UserRecord, 'username'>): UserChange {
  const change: UserChange = {};
  const apply = (attr: string, value: unknown, where: string) => {
    if (ROLE_ATTR.test(attr)) throw new ScimError(400, `${where}: fairwatch console roles are not set through SCIM`, 'mutability');
    if (/^active$/i.test(attr)) {
      const v = boolish.safeParse(value);
      if (!v.success) throw new ScimError(400, `${where}: active must be true or false`, 'invalidValue');
      change.active = v.data;
    } else if (/^username$/i.test(attr)) {
      if (typeof value !== 'string' || normaliseUsername(value) !== current.username) {
        throw new ScimError(400, `${where}: fairwatch does not rename accounts (${current.username}); disable this one and provision the new name`, 'mutability');
      }
    }
  };
  ops.forEach((op, i) => {
    const kind = op.op.toLowerCase();
    const where = `Operations.${i}`;
    if (op.path !== undefined) {
      if (kind === 'remove' && ROLE_ATTR.test(op.path)) return; // taking roles away changes nothing here
      if (kind === 'remove' && /^active$/i.test(op.path)) throw new ScimError(400, `${where}.path: active cannot be removed; replace it with false`, 'mutability');
      apply(op.path, op.value, `${where}.value`);
      return;
    }
    if (kind === 'remove') throw new ScimError(400, `${where}.path: remove needs a path`, 'noTarget');
    if (!op.value || typeof op.value !== 'object' || Array.isArray(op.value)) throw new ScimError(400, `${where}.value: expected an object of attributes when there is no path`, 'invalidValue');
    for (const [k, v] of Object.entries(op.value)) apply(k, v, `${where}.value.${k}`);
  });
  return change;
}

/** `userName eq "value"` (the filter Entra sends before creating) → the value; anything else is refused. */
export function parseUserFilter(filter: string): string {
  const m = /^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
  if (!m) throw new ScimError(400, `filter: only userName eq "…" is supported (got ${JSON.stringify(filter.slice(0, 100))})`, 'invalidFilter');
  return m[1]!.replace(/\\(.)/g, '$1');
}

/** `displayName eq "value"` or `externalId eq "value"` for groups. */
export function parseGroupFilter(filter: string): { attr: 'displayName' | 'externalId'; value: string } {
  const m = /^\s*(displayName|externalId)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
  if (!m) throw new ScimError(400, `filter: only displayName eq "…" or externalId eq "…" is supported (got ${JSON.stringify(filter.slice(0, 100))})`, 'invalidFilter');
  return { attr: m[1]!.toLowerCase() === 'displayname' ? 'displayName' : 'externalId', value: m[2]!.replace(/\\(.)/g, '$1') };
}

export interface ScimDeps {
  users: UserDirectory;
  accounts: ExternalAccounts;
  audit: AuditLog;
  redis: Redis;
  config: ScimConfig;
  /** the group of a user in no mapped group */
  defaultGroup: string;
  /** a user was disabled: end their console sessions */
  onDisabled: (userId: string) => Promise<void>;
  now?: () => number;
}

export const scimIssuer = (providerId: string) => `scim:${providerId}`;

export class ScimUsers {
  constructor(private readonly d: ScimDeps) {}

  private get provider() {
    return this.d.config.provider;
  }

  /**
   * SCIM may manage a record that has no password and is either marked as SCIM's for this provider
   * or was made by this provider's sign-in. A local account, or one from LDAP or another provider, is
   * not SCIM's.
   */
  async manageable(u: UserRecord): Promise<boolean> {
    if (u.passwordHash !== '') return false;
    const links = await this.d.accounts.linksOf(u.userId);
    return links.some((l) => l.providerId === this.provider);
  }

  async byId(id: string): Promise<UserRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const u = await this.d.users.getById(id);
    return u && (await this.manageable(u)) ? u : null;
  }

  async byUserName(userName: string): Promise<UserRecord | null> {
    const u = await this.d.users.get(userName);
    return u && (await this.manageable(u)) ? u : null;
  }

  /** Counts one change against identity.scim.maxChangesPerMinute; over it, 429. */
  private async budget(): Promise<void> {
    const key = `fairwatch:scim:changes:${Math.floor((this.d.now ?? Date.now)() / 60_000)}`;
    const n = await this.d.redis.incr(key);
    if (n === 1) await this.d.redis.expire(key, 120);
    if (n > this.d.config.maxChangesPerMinute) throw new ScimError(429, `more than ${this.d.config.maxChangesPerMinute} changes this minute (identity.scim.maxChangesPerMinute); try again later`, 'tooMany');
  }

  private async audit(action: string, u: UserRecord, reason: string): Promise<void> {
    await this.d.audit.append({ actor: scimIssuer(this.provider), actorRole: 'scim', action, target: u.userId, reason: `${scimIssuer(this.provider)}: ${reason}`.slice(0, 500), outcome: 'allowed' });
  }

  private async changed(): Promise<void> {
    await this.d.redis.publish(CHANNELS.usersChanged, 'scim').catch(() => 0);
  }

  async create(input: z.infer<typeof createUserSchema>): Promise<UserRecord> {
    let username: string;
    try {
      username = validateUsername(input.userName);
    } catch (e) {
      if (e instanceof UserError) throw new ScimError(400, `userName: ${e.message.replace(/^--username /, '')}`, 'invalidValue');
      throw e;
    }
    const existing = await this.d.users.get(username);
    if (existing) {
      const mine = await this.manageable(existing);
      throw new ScimError(409, mine
        ? `userName: ${username} already exists (id ${existing.userId})`
        : `userName: a fairwatch account named ${username} exists and is not managed by SCIM (a local account, or one from another directory); it is left alone`, 'uniqueness');
    }
    await this.budget();
    let rec: UserRecord;
    try {
      rec = await this.d.users.addExternal({ username, role: 'staff', group: this.d.defaultGroup });
    } catch (e) {
      if (e instanceof UserError) throw new ScimError(e.code === 'FW_USER_EXISTS' ? 409 : 400, `userName: ${e.message}`, e.code === 'FW_USER_EXISTS' ? 'uniqueness' : 'invalidValue');
      throw e;
    }
    await this.d.accounts.link({ issuer: scimIssuer(this.provider), subject: rec.userId, userId: rec.userId, providerId: this.provider });
    await this.audit('user.scim-create', rec, `starter: role staff, group ${rec.group}`);
    if (!input.active) rec = await this.setActive(rec, false);
    await this.changed();
    return rec;
  }

  /** Applies active true/false; returns the record as it now is. */
  async setActive(u: UserRecord, active: boolean): Promise<UserRecord> {
    if (u.disabled === !active) return u;
    await this.budget();
    const next = active ? await this.d.users.enable(u.username) : await this.d.users.disable(u.username);
    await this.audit(active ? 'user.scim-enable' : 'user.scim-disable', next, active ? 'active in the directory again' : 'leaver: disabled (never deleted)');
    if (!active) {
      await this.d.onDisabled(next.userId);
      // a shared computer they signed in on stops being theirs now, not at identity.signInHours
      await signOutEverywhere(this.d.redis, next.username);
    }
    await this.changed();
    return next;
  }

  async patch(u: UserRecord, ops: z.infer<typeof patchSchema>['Operations']): Promise<UserRecord> {
    const change = interpretPatch(ops, u);
    return change.active === undefined ? u : this.setActive(u, change.active);
  }

  /** Sets the group a user's SCIM group memberships map to. */
  async setGroup(u: UserRecord, group: string, why: string): Promise<UserRecord> {
    if (u.group === group) return u;
    await this.budget();
    const next = await this.d.users.setGroup(u.username, group);
    await this.audit('user.scim-group', next, `group ${u.group} → ${group} (${why})`);
    await this.changed();
    return next;
  }
}

export function userResource(u: UserRecord, base: string) {
  return {
    schemas: [SCIM_USER], id: u.userId, userName: u.username, active: !u.disabled,
    meta: { resourceType: 'User', created: u.createdAt, lastModified: u.updatedAt, location: `${base}/Users/${u.userId}` },
  };
}

export function listResponse(resources: unknown[], startIndex = 1) {
  return { schemas: [SCIM_LIST], totalResults: resources.length, startIndex, itemsPerPage: resources.length, Resources: resources };
}
