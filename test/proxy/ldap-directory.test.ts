import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LdapAuthenticator } from '../../proxy/authenticators.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import { ldapSchema, type LdapConfig } from '../../core/config/ldap-schema.ts';
import { DirectoryUnavailable } from '../../core/identity/directory-unavailable.ts';
import { LdapDirectory } from '../../core/identity/ldap-directory.ts';
import { escapeFilterValue, fillFilter, mapDirectoryGroup } from '../../core/identity/ldap-filter.ts';
import { baseLdif, personLdif, Slapd, SUFFIX } from '../helpers/slapd.ts';
import { tempDir } from '../helpers/tmp.ts';

// The LDAP adapter against Debian's slapd on loopback: one server with the memberof overlay
// (groups from memberOf, over LDAPS and StartTLS with a test CA), one without it (groups from a
// member / memberUid search).

const SERVICE_PW = 'service secret 1';
const tmpA = tempDir('fw-slapd-a-');
const tmpB = tempDir('fw-slapd-b-');
let withMemberOf: Slapd;
let plain: Slapd;

const STAFF = `cn=staff,ou=groups,${SUFFIX}`;
const VOLS = `cn=volunteers,ou=groups,${SUFFIX}`;

function config(over: Partial<Record<keyof LdapConfig, unknown>>): LdapConfig {
  return ldapSchema.parse({
    url: 'ldap://127.0.0.1:1', bindDN: `cn=fairwatch,${SUFFIX}`, bindPassword: SERVICE_PW, userBase: `ou=people,${SUFFIX}`,
    userFilter: '(uid={username})', groups: { [STAFF]: 'staff', [VOLS]: 'volunteers' }, timeoutSeconds: 3, ...over,
  });
}

function seed(s: Slapd): void {
  s.add(baseLdif(SERVICE_PW));
  s.add([personLdif('alice', 'alice password 1', 1001), personLdif('bob', 'bob password 1', 1002), personLdif('carol', 'carol password 1', 1003)].join('\n'));
  s.add(`dn: ${STAFF}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=alice,ou=people,${SUFFIX}\nmember: uid=carol,ou=people,${SUFFIX}\n\n` +
    `dn: ${VOLS}\nobjectClass: groupOfNames\ncn: volunteers\nmember: uid=bob,ou=people,${SUFFIX}\nmember: uid=carol,ou=people,${SUFFIX}\n\n` +
    `dn: cn=rota,ou=groups,${SUFFIX}\nobjectClass: posixGroup\ncn: rota\ngidNumber: 500\nmemberUid: bob\n`);
}

beforeAll(async () => {
  withMemberOf = await Slapd.start(tmpA.dir, { memberOf: true, tls: true });
  plain = await Slapd.start(tmpB.dir, { adSchema: true });
  seed(withMemberOf);
  seed(plain);
}, 60_000);
afterAll(async () => {
  await withMemberOf?.stop();
  await plain?.stop();
  tmpA.cleanup();
  tmpB.cleanup();
});

describe('LDAP filter values (RFC 4515)', () => {
  it('escapes the characters that would change the filter', () => {
    expect(escapeFilterValue('*)(uid=*')).toBe('\\2a\\29\\28uid=\\2a');
    expect(escapeFilterValue('a\\b\0c')).toBe('a\\5cb\\00c');
    expect(fillFilter('(&(objectClass=person)(uid={username}))', { username: 'x)(|(uid=*' })).toBe('(&(objectClass=person)(uid=x\\29\\28|\\28uid=\\2a))');
  });

  it('maps groups in the order written, DNs compared without case or spaces; a fallback or null', () => {
    const mapping = { [STAFF]: 'staff', [VOLS]: 'volunteers' };
    expect(mapDirectoryGroup([VOLS.toUpperCase(), 'CN=Staff, OU=Groups, DC=example, DC=org'], mapping, undefined)).toBe('staff');
    expect(mapDirectoryGroup([VOLS], mapping, undefined)).toBe('volunteers');
    expect(mapDirectoryGroup(['cn=other,dc=x'], mapping, undefined)).toBeNull();
    expect(mapDirectoryGroup([], mapping, 'guests')).toBe('guests');
  });
});

describe('LdapDirectory against slapd', () => {
  it('memberOf over LDAPS with the test CA: the right password, its groups; a wrong one, an unknown name, an injection, an empty password', async () => {
    const d = new LdapDirectory(config({ url: withMemberOf.ldapsUrl, tlsCaFile: withMemberOf.caFile }));
    const ok = await d.check('carol', 'carol password 1');
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.user.groups.map((g) => g.toLowerCase()).sort()).toEqual([STAFF, VOLS].sort());
    expect(await d.check('carol', 'wrong password')).toEqual({ ok: false, why: 'bad-password' });
    expect(await d.check('nobody', 'carol password 1')).toEqual({ ok: false, why: 'unknown' });
    // unescaped, (uid=*)(uid=*) would match everyone; escaped it matches the literal name only
    expect(await d.check('*)(uid=*', 'carol password 1')).toEqual({ ok: false, why: 'unknown' });
    expect(await d.check('*', 'carol password 1')).toEqual({ ok: false, why: 'unknown' });
    // a filter that matches several people is refused, never the first one taken
    const loose = new LdapDirectory(config({ url: withMemberOf.ldapsUrl, tlsCaFile: withMemberOf.caFile, userFilter: '(|(uid={username})(objectClass=inetOrgPerson))' }));
    expect(await loose.check('carol', 'carol password 1')).toEqual({ ok: false, why: 'ambiguous' });
    // an empty password would be an anonymous bind, which the server accepts
    expect(await d.check('carol', '')).toEqual({ ok: false, why: 'bad-password' });
  });

  it('StartTLS with the test CA; a CA that did not sign the server certificate is unavailable, not a wrong password', async () => {
    const d = new LdapDirectory(config({ url: withMemberOf.url, startTls: true, tlsCaFile: withMemberOf.caFile }));
    expect((await d.check('alice', 'alice password 1')).ok).toBe(true);
    const untrusted = new LdapDirectory(config({ url: withMemberOf.ldapsUrl }));
    await expect(untrusted.check('alice', 'alice password 1')).rejects.toBeInstanceOf(DirectoryUnavailable);
    const untrustedStartTls = new LdapDirectory(config({ url: withMemberOf.url, startTls: true }));
    await expect(untrustedStartTls.check('alice', 'alice password 1')).rejects.toBeInstanceOf(DirectoryUnavailable);
  });

  it('without memberOf: groups from a member search (groupOfNames) and posixGroup memberUid', async () => {
    const d = new LdapDirectory(config({ url: plain.url, groupMembership: 'search', groupBase: `ou=groups,${SUFFIX}` }));
    const bob = await d.check('bob', 'bob password 1');
    expect(bob.ok && bob.user.groups.map((g) => g.toLowerCase()).sort()).toEqual([`cn=rota,ou=groups,${SUFFIX}`, VOLS].sort());
    const users = await d.listUsers();
    expect(users.map((u) => u.username).sort()).toEqual(['alice', 'bob', 'carol']);
    expect(users.find((u) => u.username === 'carol')!.groups.map((g) => g.toLowerCase()).sort()).toEqual([STAFF, VOLS].sort());
  });

  it('an Active Directory style account: groups from memberOf as written, disabled by userAccountControl bit 2', async () => {
    plain.add(`dn: cn=Adam Ames,ou=people,${SUFFIX}\nobjectClass: user\nobjectClass: uidObject\ncn: Adam Ames\nsn: Ames\nuid: adam\n` +
      // what the class requires of every AD object (values of no interest here)
      `instanceType: 4\nobjectCategory: cn=Person,${SUFFIX}\nnTSecurityDescriptor:: AQ==\n` +
      `userAccountControl: 512\nmemberOf: ${VOLS}\nuserPassword: adam password 1\n`);
    const d = new LdapDirectory(config({ url: plain.url }));
    const ok = await d.check('adam', 'adam password 1');
    expect(ok.ok && ok.user.groups).toEqual([VOLS]);
    // 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE
    plain.modify(`dn: cn=Adam Ames,ou=people,${SUFFIX}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n`);
    expect(await d.check('adam', 'adam password 1')).toEqual({ ok: false, why: 'disabled' });
    plain.delete(`cn=Adam Ames,ou=people,${SUFFIX}`);
  });

  it('a wrong service password and a stopped server are unavailable; a locked (pwdAccountLockedTime) account is disabled', async () => {
    await expect(new LdapDirectory(config({ url: plain.url, bindPassword: 'not it at all' })).check('alice', 'alice password 1')).rejects.toThrow(/service account/);
    const d = new LdapDirectory(config({ url: plain.url, groupMembership: 'search', groupBase: `ou=groups,${SUFFIX}` }));
    plain.modify(`dn: uid=alice,ou=people,${SUFFIX}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
    expect(await d.check('alice', 'alice password 1')).toMatchObject({ ok: false });
    expect((await d.listUsers()).find((u) => u.username === 'alice')?.disabled).toBe(true);
    await plain.stop();
    await expect(d.check('bob', 'bob password 1')).rejects.toBeInstanceOf(DirectoryUnavailable);
  });
});

describe('the credential chain with a directory (CredentialStore + LdapAuthenticator, clock moved by hand)', () => {
  it('remembers a success; while the directory is away the grace holds, bounded, with one log line; new names are refused as unavailable', async () => {
    let t = 1_000_000;
    const now = () => t;
    const cfg = config({ url: withMemberOf.url, groupMembership: 'memberOf' });
    const logged: string[] = [];
    const ldap = new LdapAuthenticator(new LdapDirectory(cfg), cfg, (m) => logged.push(m), now);
    const store = new CredentialStore([], 60_000, {}, now, { directories: [ldap], outageGraceMs: 10 * 60_000 });
    expect(await store.check('Alice', 'alice password 1', '10.0.0.1')).toEqual({ user: { username: 'alice', group: 'staff' } });
    expect(await store.check('bob', 'wrong', '10.0.0.1')).toEqual({ user: null, refused: 'bad-credentials' });
    // a group the mapping lists first wins: carol is in staff and volunteers
    expect(await store.check('carol', 'carol password 1', '10.0.0.1')).toEqual({ user: { username: 'carol', group: 'staff' } });
    const runs = store.verifications;
    expect((await store.check('alice', 'alice password 1', '10.0.0.2')).user).not.toBeNull();
    expect(store.verifications).toBe(runs);
    await withMemberOf.stop();
    t += 61_000;
    // past the cache: the directory is asked, cannot answer, and the grace holds
    expect(await store.check('alice', 'alice password 1', '10.0.0.1')).toEqual({ user: { username: 'alice', group: 'staff' } });
    expect(await store.check('bob', 'bob password 1', '10.0.0.1')).toEqual({ user: null, refused: 'directory-unavailable' });
    // known to be away: the grace is answered without a check
    const before = store.verifications;
    expect((await store.check('alice', 'alice password 1', '10.0.0.1')).user).not.toBeNull();
    expect(store.verifications).toBe(before);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/identity\.ldap: the directory cannot be reached .*new proxy sign-ins get 407/);
    // unavailable is not a failed guess: past the per-name limit (10) there is still no throttling
    for (let i = 0; i < 12; i++) expect((await store.check('bob', `guess ${i}`, '10.0.0.9')).user).toBeNull();
    expect(await store.check('bob', 'another', '10.0.0.9')).toEqual({ user: null, refused: 'directory-unavailable' });
    // past cache + grace: refused like everyone else
    t += 10 * 60_000;
    expect(await store.check('alice', 'alice password 1', '10.0.0.1')).toEqual({ user: null, refused: 'directory-unavailable' });
    await withMemberOf.run();
  });
});
