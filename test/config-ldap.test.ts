import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../core/config/load.ts';

// identity.ldap: every problem names the key and line; the service password may come from
// FAIRWATCH_LDAP_BIND_PASSWORD instead of the file.

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(yaml, 'f.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems.join('\n');
  }
  throw new Error('expected a ConfigError');
}

const ldap = (over: Record<string, string> = {}, drop: string[] = []): string => {
  const keys: Record<string, string> = {
    url: 'ldaps://dc1.example.org', bindDN: '"CN=fairwatch,OU=Service,DC=example,DC=org"', bindPassword: 'secret',
    userBase: '"OU=Staff,DC=example,DC=org"', userFilter: '"(sAMAccountName={username})"', ...over,
  };
  const lines = Object.entries(keys).filter(([k]) => !drop.includes(k)).map(([k, v]) => `    ${k}: ${v}`);
  return `identity:\n  ldap:\n${lines.join('\n')}\n    groups:\n      "CN=Staff,OU=Groups,DC=example,DC=org": staff\n`;
};

describe('identity.ldap', () => {
  it('parses an Active Directory block with its defaults; the password can come from the environment', () => {
    const c = parseConfig(ldap({}, ['bindPassword']), 'f.yaml', { FAIRWATCH_LDAP_BIND_PASSWORD: 'from env' });
    expect(c.identity.ldap).toMatchObject({ bindPassword: 'from env', startTls: false, groupMembership: 'memberOf', timeoutSeconds: 5, outageGraceMinutes: 60, usernameAttribute: 'uid' });
    expect(c.identity.ldap!.defaultGroup).toBeUndefined();
  });

  it.each([
    ['no password anywhere', ldap({}, ['bindPassword']), /f\.yaml:2: identity\.ldap\.bindPassword: required: set it here or \(better\) in the environment variable FAIRWATCH_LDAP_BIND_PASSWORD/],
    ['a url that is not ldap', ldap({ url: 'https://dc1' }), /f\.yaml:3: identity\.ldap\.url: expected ldap:\/\/host\[:port\] or ldaps:\/\/host\[:port\]/],
    ['a filter without {username}', ldap({ userFilter: '"(uid=alice)"' }), /f\.yaml:7: identity\.ldap\.userFilter: must contain \{username\}/],
    ['a bind DN that is not a DN', ldap({ bindDN: 'fairwatch' }), /f\.yaml:4: identity\.ldap\.bindDN: expected a distinguished name/],
    ['StartTLS on ldaps', ldap({ startTls: 'true' }), /identity\.ldap\.startTls: an ldaps:\/\/ url is already TLS/],
    ['a member search without groupBase', ldap({ groupMembership: 'search' }), /identity\.ldap\.groupBase: required with groupMembership: search/],
    ['a bad sync schedule', ldap({ syncCron: '"every hour"' }), /f\.yaml:8: identity\.ldap\.syncCron: expected a cron expression/],
    ['a mapping to a group policy does not have', ldap().replace(': staff', ': kitchen'), /f\.yaml:9: identity\.ldap\.groups\.CN=Staff,OU=Groups,DC=example,DC=org: "kitchen" is not a group in policy\.groups/],
    ['a default group policy does not have', ldap({ defaultGroup: 'nobody' }), /identity\.ldap\.defaultGroup: "nobody" is not a group in policy\.groups/],
    ['an unknown key', ldap({ bindPasword: 'x' }), /identity\.ldap\.bindPasword: unknown key/],
  ])('%s', (_name, yaml, pattern) => {
    expect(problems(yaml)).toMatch(pattern);
  });

  it('the commented example in fairwatch.example.yaml parses once uncommented', () => {
    const text = readFileSync('fairwatch.example.yaml', 'utf8');
    const uncommented = text.replace(/^ {2}# ldap:\n((?: {2}# {3}.*\n)+)/m, (block) => block.replace(/^ {2}# ( {2})?/gm, (_m, deeper: string | undefined) => `  ${deeper ?? ''}`))
      .replace(/^(\s+)# (bindPassword|tlsCaFile|defaultGroup|syncCron):.*$/gm, '');
    expect(uncommented).not.toBe(text);
    const c = parseConfig(uncommented, 'fairwatch.example.yaml', { FAIRWATCH_LDAP_BIND_PASSWORD: 'x' });
    expect(c.identity.ldap).toMatchObject({ url: 'ldaps://dc1.example.org', usernameAttribute: 'sAMAccountName', groupMembership: 'memberOf' });
    expect(Object.values(c.identity.ldap!.groups)).toEqual(['managers', 'staff', 'volunteers']);
  });
});
