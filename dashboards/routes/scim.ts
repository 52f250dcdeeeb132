import type { z } from 'zod';
import { scimTokenSource, type ScimTokenCheck } from '../../core/identity/scim-token.ts';
import {
  createUserSchema, listResponse, parseGroupFilter, parseUserFilter, patchSchema, SCIM_GROUP, ScimError, ScimUsers,
  scimValidationError, userResource,
} from '../../core/identity/scim.ts';
import type { UserRecord } from '../../core/identity/users.ts';
import type { ConsoleDeps } from '../deps.ts';
import type { Ctx, RouteTable } from '../access.ts';
import { consoleBase } from './oidc.ts';

// SCIM 2.0 at /scim/v2 for the OpenID provider's directory (identity.scim): every request carries
// the bearer token, compared in constant time; bodies are application/scim+json (or json), at most
// 64 KiB, validated before anything changes; every refusal is a SCIM error body. Groups keep no
// state here: a group's id is its displayName and externalId encoded, and membership moves a user
// into the fairwatch group identity.scim.groups maps it to.

export const SCIM_BASE = '/scim/v2';
const MAX_BODY = 64 * 1024;
const SCIM_TYPE = 'application/scim+json';

const scimJson = (c: Ctx, body: unknown, status = 200) =>
  c.body(JSON.stringify(body), status as 200, { 'content-type': `${SCIM_TYPE}; charset=utf-8` });

async function readJson(c: Ctx): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== SCIM_TYPE && type !== 'application/json') throw new ScimError(415, `content-type: send ${SCIM_TYPE}${type ? ` (got ${type})` : ''}`, 'invalidSyntax');
  if (Number(c.req.header('content-length') ?? 0) > MAX_BODY) throw new ScimError(413, `request body: larger than ${MAX_BODY / 1024} KiB`, 'invalidSyntax');
  // read with a cap, whatever content-length said (a chunked body has none)
  const reader = c.req.raw.body?.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; reader && i < 10_000; i++) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY) {
      await reader.cancel().catch(() => undefined);
      throw new ScimError(413, `request body: larger than ${MAX_BODY / 1024} KiB`, 'invalidSyntax');
    }
    parts.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
  } catch {
    throw new ScimError(400, 'request body: not valid JSON', 'invalidSyntax');
  }
}

function parse<T extends z.ZodType>(schema: T, v: unknown): z.infer<T> {
  const r = schema.safeParse(v);
  if (!r.success) throw scimValidationError(r.error);
  return r.data;
}

/** A group's id: its displayName and externalId, so nothing about groups is stored. */
export const groupId = (displayName: string, externalId: string) => Buffer.from(JSON.stringify([displayName, externalId])).toString('base64url');
function groupOf(id: string): { displayName: string; externalId: string } | null {
  try {
    const v = JSON.parse(Buffer.from(id, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return { displayName: v[0], externalId: v[1] };
  } catch { /* not one of ours */ }
  return null;
}

export function scimRoutes(deps: ConsoleDeps, t: RouteTable): void {
  const cfg = deps.config.identity.scim;
  const tokenCheck: () => ScimTokenCheck | null = cfg ? scimTokenSource(deps.dataDir, cfg) : () => null;
  const users = cfg ? new ScimUsers({
    users: deps.users, accounts: deps.externalAccounts, audit: deps.audit, redis: deps.redis, config: cfg,
    defaultGroup: cfg.defaultGroup ?? deps.config.policy.defaultGroup,
    onDisabled: (userId) => deps.sessions.destroyAllOf(userId),
  }) : null;
  const mapGroup = (g: { displayName: string; externalId: string }): string | null => {
    if (!cfg) return null;
    for (const [key, group] of Object.entries(cfg.groups)) if (key === g.displayName || (g.externalId && key === g.externalId)) return group;
    return null;
  };

  /** Every SCIM route: enabled, token, then the handler; errors become SCIM error bodies. */
  const scim = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, handler: (c: Ctx, u: ScimUsers) => Promise<Response>) => {
    t.add({ method, path: `${SCIM_BASE}${path}`, who: 'anyone', bearer: true }, async (c) => {
      try {
        if (!cfg?.enabled || !users) throw new ScimError(404, 'SCIM provisioning is off (identity.scim.enabled)');
        const check = tokenCheck();
        if (!check) throw new ScimError(503, 'no SCIM token is set: run `fairwatch users scim-token` or set the token variable (identity.scim.tokenEnv)');
        const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(c.req.header('authorization') ?? '');
        if (!m || !check(m[1]!)) {
          deps.log.warn({ path: c.req.path, method: c.req.method }, 'SCIM request refused: missing or wrong bearer token');
          c.header('www-authenticate', 'Bearer realm="fairwatch-scim"');
          throw new ScimError(401, 'authorization: a valid bearer token is required');
        }
        return await handler(c, users);
      } catch (e) {
        if (e instanceof ScimError) {
          if (e.status === 429) c.header('retry-after', '60');
          return scimJson(c, e.body(), e.status);
        }
        throw e;
      }
    });
  };
  const base = (c: Ctx) => `${consoleBase(deps, c)}${SCIM_BASE}`;
  const found = async (u: ScimUsers, id: string): Promise<UserRecord> => {
    const rec = await u.byId(id);
    if (!rec) throw new ScimError(404, `no SCIM user ${id.slice(0, 64)}`);
    return rec;
  };

  scim('GET', '/Users', async (c, u) => {
    const filter = c.req.query('filter');
    if (filter === undefined) throw new ScimError(400, 'filter: this service answers userName eq "…" queries only', 'invalidFilter');
    const rec = await u.byUserName(parseUserFilter(filter));
    return scimJson(c, listResponse(rec ? [userResource(rec, base(c))] : []));
  });
  scim('GET', '/Users/:id', async (c, u) => scimJson(c, userResource(await found(u, c.req.param('id')!), base(c))));
  scim('POST', '/Users', async (c, u) => {
    const rec = await u.create(parse(createUserSchema, await readJson(c)));
    c.header('location', `${base(c)}/Users/${rec.userId}`);
    return scimJson(c, userResource(rec, base(c)), 201);
  });
  scim('PATCH', '/Users/:id', async (c, u) => {
    const rec = await found(u, c.req.param('id')!);
    const body = parse(patchSchema, await readJson(c));
    return scimJson(c, userResource(await u.patch(rec, body.Operations), base(c)));
  });
  scim('PUT', '/Users/:id', async (c, u) => {
    const rec = await found(u, c.req.param('id')!);
    const body = parse(createUserSchema, await readJson(c));
    return scimJson(c, userResource(await u.patch(rec, [{ op: 'replace', value: { userName: body.userName, active: body.active } }]), base(c)));
  });
  // a deletion in the directory disables the person here; the record and its history stay
  scim('DELETE', '/Users/:id', async (c, u) => {
    await u.setActive(await found(u, c.req.param('id')!), false);
    return c.body(null, 204);
  });

  const groupResource = (c: Ctx, g: { displayName: string; externalId: string }) => ({
    schemas: [SCIM_GROUP], id: groupId(g.displayName, g.externalId), displayName: g.displayName, ...(g.externalId ? { externalId: g.externalId } : {}),
    meta: { resourceType: 'Group', location: `${base(c)}/Groups/${groupId(g.displayName, g.externalId)}` },
  });
  const memberIds = (value: unknown, where: string): string[] => {
    if (!Array.isArray(value) || value.length > 1000) throw new ScimError(400, `${where}: expected a list of members (at most 1000)`, 'invalidValue');
    return value.map((m, i) => {
      const v = (m as { value?: unknown } | null)?.value;
      if (typeof v !== 'string') throw new ScimError(400, `${where}.${i}.value: expected a user id`, 'invalidValue');
      return v;
    });
  };
  /** membership: added to a mapped group → that group; removed from the group they are in → the default */
  const applyMembers = async (u: ScimUsers, g: { displayName: string; externalId: string }, add: string[], remove: string[]) => {
    const group = mapGroup(g);
    if (!group || !cfg) return;
    for (const id of add) {
      const rec = await u.byId(id);
      if (rec) await u.setGroup(rec, group, `added to ${g.displayName}`);
    }
    for (const id of remove) {
      const rec = await u.byId(id);
      if (rec && rec.group === group) await u.setGroup(rec, cfg.defaultGroup ?? deps.config.policy.defaultGroup, `removed from ${g.displayName}`);
    }
  };

  scim('GET', '/Groups', async (c) => {
    const filter = c.req.query('filter');
    if (filter === undefined) return scimJson(c, listResponse([]));
    const f = parseGroupFilter(filter);
    const g = f.attr === 'displayName' ? { displayName: f.value, externalId: '' } : { displayName: '', externalId: f.value };
    // only mapped groups are said to exist; Entra creates the others, which cost nothing here
    return scimJson(c, listResponse(mapGroup(g) ? [groupResource(c, g)] : []));
  });
  scim('GET', '/Groups/:id', async (c) => {
    const g = groupOf(c.req.param('id')!);
    if (!g) throw new ScimError(404, 'no such group');
    return scimJson(c, groupResource(c, g));
  });
  scim('POST', '/Groups', async (c, u) => {
    const body = await readJson(c) as { displayName?: unknown; externalId?: unknown; members?: unknown };
    if (typeof body?.displayName !== 'string' || !body.displayName || body.displayName.length > 256) throw new ScimError(400, 'displayName: required, at most 256 characters', 'invalidValue');
    if (body.externalId !== undefined && (typeof body.externalId !== 'string' || body.externalId.length > 256)) throw new ScimError(400, 'externalId: expected text of at most 256 characters', 'invalidValue');
    const g = { displayName: body.displayName, externalId: (body.externalId as string | undefined) ?? '' };
    await applyMembers(u, g, body.members === undefined ? [] : memberIds(body.members, 'members'), []);
    return scimJson(c, groupResource(c, g), 201);
  });
  scim('PATCH', '/Groups/:id', async (c, u) => {
    const g = groupOf(c.req.param('id')!);
    if (!g) throw new ScimError(404, 'no such group');
    const body = parse(patchSchema, await readJson(c));
    for (const [i, op] of body.Operations.entries()) {
      const kind = op.op.toLowerCase();
      const path = op.path ?? '';
      const one = /^members\[value eq "([^"]+)"\]$/i.exec(path);
      if (/^members$/i.test(path) && kind !== 'remove') await applyMembers(u, g, memberIds(op.value, `Operations.${i}.value`), []);
      else if (/^members$/i.test(path)) await applyMembers(u, g, [], memberIds(op.value, `Operations.${i}.value`));
      else if (one && kind === 'remove') await applyMembers(u, g, [], [one[1]!]);
      // displayName and externalId changes: the id stays what Entra holds; a renamed group is matched by its old names
    }
    return c.body(null, 204);
  });
  scim('DELETE', '/Groups/:id', async (c) => c.body(null, 204));

  // what this service supports (RFC 7643 §5), for clients that ask before provisioning
  scim('GET', '/ServiceProviderConfig', async (c) => scimJson(c, {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true }, bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: 1 }, changePassword: { supported: false }, sort: { supported: false }, etag: { supported: false },
    authenticationSchemes: [{ type: 'oauthbearertoken', name: 'Bearer token', description: 'the token from `fairwatch users scim-token`' }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base(c)}/ServiceProviderConfig` },
  }));
}
