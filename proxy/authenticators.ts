import { verifyNobody, verifyPassword } from '../core/identity/users.ts';
import { normaliseUsername } from '../core/identity/pseudonym.ts';
import { DirectoryUnavailable } from '../core/identity/directory-unavailable.ts';
import type { LdapDirectory } from '../core/identity/ldap-directory.ts';
import { mapDirectoryGroup } from '../core/identity/ldap-filter.ts';
import type { LdapConfig } from '../core/config/ldap-schema.ts';
import { counter } from '../core/metrics.ts';

// Identification of Basic credentials is a chain of authenticators asked in order: the local user
// directory first, then the organisation's directory (LDAP / AD) when configured. Kerberos or
// Negotiate would be one more authenticator (of a different header) without reshaping the chain.
// The CredentialStore (credentials.ts) wraps the whole chain in its cache and anti-guessing limits.

export type AuthAnswer =
  /** identified; `group` is the fairwatch policy group */
  | { kind: 'ok'; group: string }
  /** wrong password, unknown, disabled or refused name: the end of the chain */
  | { kind: 'bad' }
  /** this authenticator does not hold the name: ask the next (the last one's is a 'bad') */
  | { kind: 'not-mine' }
  /** the authenticator could not be asked (directory unreachable): not a wrong password */
  | { kind: 'unavailable' };

export interface Authenticator {
  readonly name: string;
  /**
   * Changes whenever what this authenticator holds about the name changes (a new password hash,
   * a disable): part of the credential cache key, so such a change is checked again at once.
   */
  fingerprint(username: string): string;
  check(username: string, password: string): Promise<AuthAnswer>;
  /** true while it is known to be unreachable (remembered sign-ins may then use their grace) */
  down?(): boolean;
}

/** What the proxy needs of a user record (never the TOTP secret). */
export interface CredentialRecord {
  username: string;
  /** '' for a record made by `users sync`: that person signs in with the directory's password */
  passwordHash: string;
  group: string;
  disabled: boolean;
}

/**
 * The local user directory. A name with a local password is decided here alone: the directory is
 * never asked about it (local name wins, and its password is never sent to the directory). A
 * disabled local record is refused whatever the directory says. Every answer costs one argon2
 * verification, a real or a dummy one, so timing does not say whether a name is local.
 */
export class LocalAuthenticator implements Authenticator {
  readonly name = 'local';
  private records = new Map<string, CredentialRecord>();

  constructor(records: readonly CredentialRecord[] = []) {
    this.replace(records);
  }

  replace(records: readonly CredentialRecord[]): void {
    this.records = new Map(records.map((r) => [normaliseUsername(r.username), r]));
  }

  record(username: string): CredentialRecord | undefined {
    return this.records.get(normaliseUsername(username));
  }

  get size(): number {
    return this.records.size;
  }

  fingerprint(username: string): string {
    const r = this.records.get(username);
    return r ? `${r.passwordHash}|${r.disabled ? 1 : 0}` : '';
  }

  async check(username: string, password: string): Promise<AuthAnswer> {
    const r = this.records.get(username);
    if (r && !r.disabled && r.passwordHash) return (await verifyPassword(r.passwordHash, password)) ? { kind: 'ok', group: r.group } : { kind: 'bad' };
    await verifyNobody(password);
    return r?.disabled ? { kind: 'bad' } : { kind: 'not-mine' };
  }
}

const directoryChecks = counter('fairwatch_proxy_directory_checks_total', 'proxy sign-ins checked with the LDAP directory, by outcome', ['outcome']);
const directoryDown = counter('fairwatch_proxy_directory_unavailable_total', 'proxy sign-ins the LDAP directory could not answer (unreachable, TLS, service bind refused)');

/** After a failure to reach the directory, checks answer 'unavailable' at once for this long (no pile-up of timeouts). */
const DOWN_HOLD_MS = 10_000;
/** At most one "directory unreachable" log line per this period. */
const LOG_EVERY_MS = 60_000;

export class LdapAuthenticator implements Authenticator {
  readonly name = 'ldap';
  private downUntil = 0;
  private lastLog = -Infinity;

  constructor(
    private readonly directory: Pick<LdapDirectory, 'check'>,
    private readonly cfg: Pick<LdapConfig, 'groups' | 'defaultGroup' | 'url' | 'outageGraceMinutes'>,
    private readonly log: (message: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  fingerprint(): string {
    return '';
  }

  down(): boolean {
    return this.downUntil > this.now();
  }

  async check(username: string, password: string): Promise<AuthAnswer> {
    if (this.down()) {
      directoryDown.inc();
      return { kind: 'unavailable' };
    }
    try {
      const r = await this.directory.check(username, password);
      if (!r.ok) {
        directoryChecks.inc({ outcome: r.why });
        return { kind: 'bad' };
      }
      const group = mapDirectoryGroup(r.user.groups, this.cfg.groups, this.cfg.defaultGroup);
      directoryChecks.inc({ outcome: group ? 'ok' : 'no-group' });
      return group ? { kind: 'ok', group } : { kind: 'bad' };
    } catch (e) {
      if (!(e instanceof DirectoryUnavailable)) throw e;
      const at = this.now();
      this.downUntil = at + DOWN_HOLD_MS;
      directoryDown.inc();
      if (at - this.lastLog >= LOG_EVERY_MS) {
        this.lastLog = at;
        this.log(`identity.ldap: the directory cannot be reached (${e.message}): new proxy sign-ins get 407; people signed in before keep browsing for up to ${this.cfg.outageGraceMinutes} minutes (identity.ldap.outageGraceMinutes)`);
      }
      return { kind: 'unavailable' };
    }
  }
}
