import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Client, InvalidCredentialsError, ResultCodeError, SizeLimitExceededError, type Entry } from 'ldapts';
import type { LdapConfig } from '../config/ldap-schema.ts';
import { FairwatchError } from '../errors.ts';
import { fillFilter, normaliseDn } from './ldap-filter.ts';
import { DirectoryUnavailable } from './directory-unavailable.ts';

// The LDAP / Active Directory adapter (ldapts): one connection per operation, bound with the
// service account, closed afterwards. A check is: find the user with the service bind, read its
// groups (memberOf, or a member search), then bind as the user's DN with the typed password.
// Anything that is not an answer from the directory about this user (refused connection, timeout,
// TLS failure, the service bind refused) is a DirectoryUnavailable, never a wrong password.

export interface DirectoryUser {
  dn: string;
  /** the usernameAttribute value, lower case */
  username: string;
  /** AD userAccountControl bit 2 (ACCOUNTDISABLE), a pwdAccountLockedTime, or nsAccountLock=TRUE */
  disabled: boolean;
  /** DNs of the groups the user is a member of, as the directory wrote them */
  groups: string[];
}

export type DirectoryCheck =
  | { ok: true; user: DirectoryUser }
  | { ok: false; why: 'unknown' | 'ambiguous' | 'disabled' | 'bad-password' };

const STATE_ATTRIBUTES = ['userAccountControl', 'pwdAccountLockedTime', 'nsAccountLock'];

function values(entry: Entry, name: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  const v = key ? entry[key] : undefined;
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}

export function entryDisabled(entry: Entry): boolean {
  const uac = Number(values(entry, 'userAccountControl')[0] ?? 0);
  if (Number.isInteger(uac) && (uac & 2) === 2) return true;
  if (values(entry, 'pwdAccountLockedTime').length > 0) return true;
  return values(entry, 'nsAccountLock').some((v) => v.toUpperCase() === 'TRUE');
}

export class LdapDirectory {
  private readonly tls: ConnectionOptions;

  constructor(private readonly cfg: LdapConfig) {
    let ca: Buffer | undefined;
    if (cfg.tlsCaFile) {
      try {
        ca = readFileSync(cfg.tlsCaFile);
      } catch (e) {
        throw new Error(`identity.ldap.tlsCaFile: cannot read ${cfg.tlsCaFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    const host = new URL(cfg.url).hostname.replace(/^\[|\]$/g, '');
    this.tls = { minVersion: 'TLSv1.2', ...(ca ? { ca } : {}), servername: /^[\d.]+$|:/.test(host) ? undefined : host };
  }

  /** Runs `fn` on a fresh connection bound as the service account. */
  private async session<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const ms = this.cfg.timeoutSeconds * 1000;
    // (ldapts opens TLS whenever tlsOptions is given, so only for ldaps://)
    const client = new Client({ url: this.cfg.url, timeout: ms, connectTimeout: ms, ...(this.cfg.url.startsWith('ldaps:') ? { tlsOptions: this.tls } : {}), strictDN: false });
    try {
      try {
        if (this.cfg.startTls) await client.startTLS(this.tls);
        await client.bind(this.cfg.bindDN, this.cfg.bindPassword);
      } catch (e) {
        const what = e instanceof InvalidCredentialsError ? 'the service account (identity.ldap.bindDN) was refused: check its password' : (e as Error).message || String(e);
        throw new DirectoryUnavailable(`${this.cfg.url}: ${what}`);
      }
      return await fn(client);
    } catch (e) {
      if (e instanceof DirectoryUnavailable || e instanceof BadPassword) throw e;
      throw new DirectoryUnavailable(`${this.cfg.url}: ${(e as Error).message || String(e)}`);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  private async groupsOf(client: Client, entry: Entry, username: string): Promise<string[]> {
    if (this.cfg.groupMembership === 'memberOf') return values(entry, 'memberOf');
    const filter = fillFilter(this.cfg.groupFilter, { dn: entry.dn, username });
    const { searchEntries } = await client.search(this.cfg.groupBase!, { scope: 'sub', filter, attributes: ['1.1'] });
    return searchEntries.map((g) => g.dn);
  }

  /** Checks a typed name and password; throws DirectoryUnavailable when the directory cannot answer. */
  async check(username: string, password: string): Promise<DirectoryCheck> {
    // an empty password would be an anonymous bind, which succeeds: never sent
    if (password === '') return { ok: false, why: 'bad-password' };
    try {
      return await this.session(async (client) => {
        const filter = fillFilter(this.cfg.userFilter, { username });
        const attributes = [this.cfg.usernameAttribute, 'memberOf', ...STATE_ATTRIBUTES];
        // more than one match is refused as ambiguous (the server stops at two)
        const searchEntries = await client.search(this.cfg.userBase, { scope: 'sub', filter, attributes, sizeLimit: 2 })
          .then((r) => r.searchEntries, (e: unknown) => {
            if (e instanceof SizeLimitExceededError) return [null, null];
            throw e;
          });
        if (searchEntries.length !== 1) {
          // the same round trips as a real check, so the answer's timing does not say the name is unknown
          const nobody = { dn: `cn=fairwatch-no-such-user,${this.cfg.userBase}` } as Entry;
          await this.groupsOf(client, nobody, username).catch(() => undefined);
          await client.bind(nobody.dn, password).catch(() => undefined);
          return { ok: false, why: searchEntries.length === 0 ? 'unknown' : 'ambiguous' } as const;
        }
        const entry = searchEntries[0] as Entry;
        const groups = await this.groupsOf(client, entry, username);
        try {
          await client.bind(entry.dn, password);
        } catch (e) {
          if (e instanceof ResultCodeError) throw new BadPassword();
          throw e;
        }
        const user: DirectoryUser = { dn: entry.dn, username: (values(entry, this.cfg.usernameAttribute)[0] ?? username).toLowerCase(), disabled: entryDisabled(entry), groups };
        return user.disabled ? { ok: false, why: 'disabled' } as const : { ok: true, user } as const;
      });
    } catch (e) {
      if (e instanceof BadPassword) return { ok: false, why: 'bad-password' };
      throw e;
    }
  }

  /** Binds as the service account and reads userBase (for `fairwatch doctor`); throws DirectoryUnavailable naming what failed. */
  async probe(): Promise<void> {
    await this.session(async (client) => {
      await client.search(this.cfg.userBase, { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] }).catch((e: unknown) => {
        throw new DirectoryUnavailable(`${this.cfg.url}: identity.ldap.userBase "${this.cfg.userBase}" cannot be read (${(e as Error).message})`);
      });
    });
  }

  /** Every user entry under userBase matching syncFilter, with groups and state (for `users sync`). */
  async listUsers(): Promise<DirectoryUser[]> {
    return this.session(async (client) => {
      const attributes = [this.cfg.usernameAttribute, 'memberOf', ...STATE_ATTRIBUTES];
      const { searchEntries } = await client.search(this.cfg.userBase, { scope: 'sub', filter: this.cfg.syncFilter, attributes, paged: { pageSize: 500 } });
      let members: Map<string, string[]> | null = null;
      if (this.cfg.groupMembership === 'search') {
        members = new Map();
        const groups = await client.search(this.cfg.groupBase!, {
          scope: 'sub', filter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))',
          attributes: ['member', 'uniqueMember', 'memberUid'], paged: { pageSize: 500 },
        });
        const add = (key: string, dn: string) => members!.set(key, [...(members!.get(key) ?? []), dn]);
        for (const g of groups.searchEntries) {
          for (const m of [...values(g, 'member'), ...values(g, 'uniqueMember')]) add(`dn:${normaliseDn(m)}`, g.dn);
          for (const m of values(g, 'memberUid')) add(`uid:${m.toLowerCase()}`, g.dn);
        }
      }
      const out: DirectoryUser[] = [];
      for (const e of searchEntries) {
        const name = values(e, this.cfg.usernameAttribute)[0];
        if (!name) continue;
        const username = name.toLowerCase();
        const groups = members
          ? [...new Set([...(members.get(`dn:${normaliseDn(e.dn)}`) ?? []), ...(members.get(`uid:${username}`) ?? [])])]
          : values(e, 'memberOf');
        out.push({ dn: e.dn, username, disabled: entryDisabled(e), groups });
      }
      return out;
    });
  }
}

class BadPassword extends FairwatchError {
  constructor() {
    super('FW_DIRECTORY_BAD_PASSWORD', 'the directory refused the password');
  }
}
