import cron from 'node-cron';
import { z } from 'zod';

// identity.ldap: proxy sign-in against an LDAP directory or Active Directory, and `users sync`.
// docs/operators/sign-in-active-directory.md explains every key for an on-site AD.

const dn = z.string().min(3).refine((s) => /^[A-Za-z][\w-]*=/.test(s.trim()), { message: 'expected a distinguished name such as "CN=Staff,OU=Groups,DC=example,DC=org"' });

const NO_PASSWORD = 'required: set it here or (better) in the environment variable FAIRWATCH_LDAP_BIND_PASSWORD';

export const ldapSchema = z.strictObject({
  /** ldaps://dc1.example.org:636, or ldap://… (with startTls, or on a trusted segment only) */
  url: z.string().regex(/^ldaps?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/, 'expected ldap://host[:port] or ldaps://host[:port]'),
  /** upgrade an ldap:// connection with StartTLS before any password is sent */
  startTls: z.boolean().default(false),
  /** a PEM file of the CA that signed the directory server's certificate (default: the system's CAs) */
  tlsCaFile: z.string().min(1).optional(),
  /** the service account that searches for users (read-only is enough) */
  bindDN: dn,
  /** its password; or the environment variable FAIRWATCH_LDAP_BIND_PASSWORD (preferred) */
  bindPassword: z.string({ error: (i) => (i.input === undefined ? NO_PASSWORD : undefined) }).min(1, NO_PASSWORD),
  /** where users are searched (whole subtree) */
  userBase: dn,
  /** the search for one user; {username} is replaced by the typed name, escaped (RFC 4515) */
  userFilter: z.string().refine((s) => s.includes('{username}'), { message: 'must contain {username}, e.g. "(sAMAccountName={username})" or "(uid={username})"' })
    .refine((s) => s.trim().startsWith('(') && s.trim().endsWith(')'), { message: 'expected an LDAP filter in parentheses, e.g. "(uid={username})"' }),
  /** the attribute holding the sign-in name (AD: sAMAccountName); `users sync` names local records by it */
  usernameAttribute: z.string().regex(/^[A-Za-z][\w-]*$/, 'expected an attribute name such as uid or sAMAccountName').default('uid'),
  /** what `users sync` lists: every user entry under userBase (AD: add "(!(objectClass=computer))") */
  syncFilter: z.string().refine((s) => s.trim().startsWith('(') && s.trim().endsWith(')'), { message: 'expected an LDAP filter in parentheses, e.g. "(objectClass=person)"' }).default('(objectClass=person)'),
  /**
   * How a user's groups are found: `memberOf` (Active Directory, OpenLDAP with the memberof overlay)
   * or `search` (groupOfNames/groupOfUniqueNames member, posixGroup memberUid) under groupBase.
   */
  groupMembership: z.enum(['memberOf', 'search']).default('memberOf'),
  groupBase: dn.optional(),
  /** with groupMembership search: {dn} is the user's DN, {username} the sign-in name (both escaped) */
  groupFilter: z.string().default('(|(member={dn})(uniqueMember={dn})(memberUid={username}))'),
  /**
   * Directory group DN → fairwatch group (policy.groups). A user in several is given the first
   * listed here that matches (order of this file). DNs compare without regard to case or spaces.
   */
  groups: z.record(dn, z.string().min(1)).refine((g) => Object.keys(g).length > 0, { message: 'list at least one directory group DN and its fairwatch group' }),
  /** the group of a directory user in none of `groups`; unset (the default): such users are refused */
  defaultGroup: z.string().min(1).optional(),
  /** seconds to connect, and for each directory operation */
  timeoutSeconds: z.number().min(0.5).max(60).default(5),
  /** directory unreachable: a person whose sign-in was remembered keeps browsing this long past the cache */
  outageGraceMinutes: z.number().int().min(0).max(1440).default(60),
  /** `users sync` on this cron schedule in the analyser (organisation.timezone); unset: by hand only */
  syncCron: z.string().refine((v) => cron.validate(v), { message: 'expected a cron expression such as "15 * * * *"' }).optional(),
}).superRefine((v, ctx) => {
  if (v.startTls && v.url.startsWith('ldaps:')) ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'an ldaps:// url is already TLS: remove startTls or use ldap://' });
  if (v.groupMembership === 'search' && !v.groupBase) ctx.addIssue({ code: 'custom', path: ['groupBase'], message: 'required with groupMembership: search (where the groups are, e.g. "ou=groups,dc=example,dc=org")' });
});

export type LdapConfig = z.infer<typeof ldapSchema>;
