import { CidrSet, normaliseIp } from '../core/net/cidr.ts';
import { normaliseUsername } from '../core/identity/pseudonym.ts';
import type { CheckRefusal, CredentialStore } from './credentials.ts';

// docs/architecture/contract.md "Proxy behaviour", identification in order: Proxy-Authorization Basic for directory
// users; the configured IP → user map; guest networks. Anyone else gets 407. Basic credentials go
// to the CredentialStore, which asks its chain of authenticators (local users, then LDAP / AD when
// identity.ldap is set; authenticators.ts). Negotiate (Kerberos) would be another scheme here,
// answered by its own authenticator with the same kind of answer (a user and a group).

export interface Identity {
  /** normalised user name; null for a guest */
  user: string | null;
  group: string;
  /** sign-in-provider: an unidentified browser on a sign-in network on its way to the organisation's OpenID provider */
  how: 'basic' | 'ip' | 'guest' | 'sign-in' | 'sign-in-provider';
}

export interface IdentifyConfig {
  guestNetworks: readonly string[];
  ipUsers: Readonly<Record<string, string>>;
  /** the group of an IP-mapped user without a directory record */
  defaultGroup: string;
}

export type IdentifyResult =
  | { identity: Identity }
  /** `refused`: why offered credentials did not count; 'auth-throttled', 'auth-busy' and 'directory-unavailable' are also event flags */
  | { identity: null; badCredentials: boolean; refused?: CheckRefusal };

export function parseBasic(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class Identifier {
  private readonly guests: CidrSet;
  private readonly ipUsers: Map<string, string>;

  constructor(private readonly cfg: IdentifyConfig, private readonly credentials: CredentialStore) {
    this.guests = new CidrSet(cfg.guestNetworks);
    this.ipUsers = new Map(Object.entries(cfg.ipUsers).map(([ip, user]) => [normaliseIp(ip).toLowerCase(), normaliseUsername(user)]));
  }

  /** Synchronous unless credentials were offered (they are checked by the credential store). */
  identify(clientIp: string, proxyAuthorization: string | undefined): IdentifyResult | Promise<IdentifyResult> {
    const basic = parseBasic(proxyAuthorization);
    if (!basic) return this.byAddress(clientIp, proxyAuthorization);
    return this.credentials.check(basic.username, basic.password, clientIp).then((checked) =>
      checked.user ? { identity: { user: checked.user.username, group: checked.user.group, how: 'basic' } } : this.byAddress(clientIp, proxyAuthorization, checked.refused));
  }

  /** Without (valid) credentials: the IP → user map, then the guest networks. */
  private byAddress(clientIp: string, proxyAuthorization: string | undefined, refused?: CheckRefusal): IdentifyResult {
    const mapped = this.ipUsers.get(normaliseIp(clientIp).toLowerCase());
    if (mapped) {
      const rec = this.credentials.record(mapped);
      // a disabled account is not browsing from its old desk
      if (!rec?.disabled) return { identity: { user: mapped, group: rec?.group ?? this.cfg.defaultGroup, how: 'ip' } };
    }
    if (this.guests.has(clientIp)) return { identity: { user: null, group: 'guests', how: 'guest' } };
    return { identity: null, badCredentials: proxyAuthorization !== undefined, ...(refused ? { refused } : {}) };
  }
}
