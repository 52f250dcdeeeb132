import { describe, expect, it } from 'vitest';
import { planSync } from '../core/identity/directory-sync.ts';

// The LDAP sync manages only records it made: one an OpenID provider's sign-in or SCIM made has no
// password either, and must not be disabled because it is absent from the on-site directory.

const rec = (username: string, over: Partial<{ group: string; disabled: boolean; passwordHash: string }> = {}) => ({ username, group: 'staff', disabled: false, passwordHash: '', ...over });
const dir = (username: string) => ({ dn: `uid=${username},ou=people,dc=x`, username, groups: ['cn=staff'], disabled: false });
const cfg = { groups: { 'cn=staff': 'staff' }, defaultGroup: undefined };

describe('users sync and records owned by an OpenID provider', () => {
  it('does not disable a linked record absent from the directory, nor change its group', () => {
    const plan = planSync([rec('ldap-leaver'), rec('sam@x.org'), rec('kim@x.org', { group: 'volunteers' })], [dir('alice'), dir('kim@x.org')], cfg, new Set(['sam@x.org', 'kim@x.org']));
    expect(plan.changes).toEqual([
      { kind: 'add', username: 'alice', group: 'staff' },
      { kind: 'disable', username: 'ldap-leaver', reason: 'gone from the directory' },
    ]);
    expect(plan.notes.join('\n')).toContain('kim@x.org: signs in with an OpenID provider');
  });
  it('without the linked set, such a record would be treated as the sync\'s own (the default keeps old callers)', () => {
    const plan = planSync([rec('sam@x.org')], [dir('alice')], cfg);
    expect(plan.changes).toContainEqual({ kind: 'disable', username: 'sam@x.org', reason: 'gone from the directory' });
  });
});
