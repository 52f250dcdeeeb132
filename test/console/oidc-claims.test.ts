import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../core/config/load.ts';
import { oidcProviderSchema } from '../../core/config/schema.ts';
import { mapClaims } from '../../core/identity/oidc-claims.ts';
import { safeReturnPath } from '../../dashboards/security/return-path.ts';

// The pure parts of OpenID sign-in: what the claims of a validated ID token mean (Entra-like and
// Google-like set-ups), where a console sign-in may return to, and the config checks.

const entra = oidcProviderSchema.parse({
  id: 'entra', displayName: 'Microsoft 365', issuer: 'https://login.microsoftonline.com/t1/v2.0', clientId: 'c', clientSecretEnv: 'S',
  usernameClaim: 'preferred_username', roles: { 'Fairwatch.Director': 'director', 'Fairwatch.IT': 'it', 'Fairwatch.DPO': 'dpo' },
  groups: { 'g-volunteers': 'volunteers', 'g-staff': 'staff' }, allowedDomains: ['riverside.org.uk'], requireClaims: { tid: 't1' },
});
const google = oidcProviderSchema.parse({
  id: 'google', displayName: 'Google', issuer: 'https://accounts.google.com', clientId: 'c', clientSecret: 's',
  roleClaim: 'email', roles: { 'dana@riverside.org.uk': 'director' }, groupClaim: 'hd', groups: { 'riverside.org.uk': 'staff' }, requireClaims: { hd: 'riverside.org.uk' },
});
const base = { tid: 't1', preferred_username: 'Sam@Riverside.org.uk' };

describe('mapClaims', () => {
  it.each([
    ['a director by app role, group from groups', entra, { ...base, roles: ['Fairwatch.Director'], groups: ['g-staff'] }, 'console', { ok: true, username: 'sam@riverside.org.uk', role: 'director', group: 'staff' }],
    ['the stronger of two roles', entra, { ...base, roles: ['Fairwatch.IT', 'Fairwatch.Director'] }, 'console', { ok: true, role: 'director', group: null }],
    ['the first group in the configured order', entra, { ...base, groups: ['g-staff', 'g-volunteers'] }, 'staff', { ok: true, role: null, group: 'volunteers' }],
    ['no role claim: refused on the console', entra, { ...base, groups: ['g-staff'] }, 'console', { ok: false, code: 'no-role' }],
    ['an unknown role value: refused', entra, { ...base, roles: ['Fairwatch.Admin'] }, 'console', { ok: false, code: 'no-role' }],
    ['no group: refused on a shared computer', entra, { ...base, roles: ['Fairwatch.IT'] }, 'staff', { ok: false, code: 'no-group' }],
    ['Entra group overage: refused with its own reason', entra, { ...base, _claim_names: { groups: 'src1' } }, 'staff', { ok: false, code: 'groups-overage' }],
    ['another tenant', entra, { ...base, tid: 't2', roles: ['Fairwatch.IT'] }, 'console', { ok: false, code: 'required-claim' }],
    ['another domain', entra, { ...base, preferred_username: 'sam@evil.example', roles: ['Fairwatch.IT'] }, 'console', { ok: false, code: 'domain-not-allowed' }],
    ['no user name claim', entra, { tid: 't1', roles: ['Fairwatch.IT'] }, 'console', { ok: false, code: 'no-username' }],
    ['Google: role by address, group by hosted domain', google, { email: 'dana@riverside.org.uk', email_verified: true, hd: 'riverside.org.uk' }, 'console', { ok: true, role: 'director', group: 'staff' }],
    ['Google: a personal account has no hd', google, { email: 'dana@gmail.com', email_verified: true }, 'staff', { ok: false, code: 'required-claim' }],
    ['Google: an unverified address', google, { email: 'dana@riverside.org.uk', email_verified: false, hd: 'riverside.org.uk' }, 'console', { ok: false, code: 'email-unverified' }],
  ] as const)('%s', (_name, provider, claims, purpose, expected) => {
    expect(mapClaims(provider, claims as Record<string, unknown>, purpose)).toMatchObject(expected);
  });

  it('takes the default group when none matched', () => {
    expect(mapClaims({ ...entra, defaultGroup: 'staff' }, base, 'staff')).toMatchObject({ ok: true, group: 'staff' });
  });
});

describe('safeReturnPath', () => {
  it.each([
    ['/reports', '/reports'], ['/reports/1?x=2', '/reports/1?x=2'], ['/a/../home', '/home'],
    ['//evil.example', undefined], ['/\\evil.example', undefined], ['https://evil.example/', undefined], ['javascript:alert(1)', undefined],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'], ['/\tevil', undefined], ['', undefined], [undefined, undefined],
  ] as const)('%s → %s', (given, expected) => {
    expect(safeReturnPath(given)).toBe(expected);
  });
});

describe('identity.oidc in the config', () => {
  const provider = (extra: string) => `identity:\n  oidc:\n    - id: entra\n      displayName: Microsoft 365\n      issuer: https://login.microsoftonline.com/t/v2.0\n      clientId: abc\n${extra}`;
  it.each([
    ['no secret', provider(''), /exactly one of clientSecret and clientSecretEnv/],
    ['both secrets', provider('      clientSecret: x\n      clientSecretEnv: X\n'), /exactly one of clientSecret and clientSecretEnv/],
    ['a plain-http issuer', provider('      clientSecret: x\n').replace('https://login', 'http://login'), /identity\.oidc\.0\.issuer.*https/],
    ['a group the policy does not know', provider('      clientSecret: x\n      groups: { g1: nurses }\n'), /identity\.oidc\.0\.groups\.g1: group "nurses" is not in policy\.groups/],
    ['a role that is not a console role', provider('      clientSecret: x\n      roles: { r1: admin }\n'), /identity\.oidc\.0\.roles\.r1/],
  ])('refuses %s, naming the key', (_name, yaml, message) => {
    expect(() => parseConfig(yaml, 'f.yaml')).toThrow(ConfigError);
    expect(() => parseConfig(yaml, 'f.yaml')).toThrow(message);
  });

  it('accepts a provider with its secret in the environment', () => {
    const c = parseConfig(provider('      clientSecretEnv: FAIRWATCH_OIDC_SECRET\n      groups: { g1: volunteers }\n'), 'f.yaml');
    expect(c.identity.oidc[0]).toMatchObject({ id: 'entra', scopes: ['openid', 'profile', 'email'], usernameClaim: 'email', roleClaim: 'roles', groupClaim: 'groups' });
  });
});

describe('the operator pages\' configuration blocks', () => {
  it.each(['sign-in-entra-id.md', 'sign-in-google-workspace.md'])('%s: the YAML block is a valid configuration once the placeholders are filled', (file) => {
    const md = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'operators', file), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(md)?.[1];
    expect(block).toBeDefined();
    const filled = block!.replace(/<[^>]+>/g, 'placeholder0').replace(/"[0-9a-f]{4}…-…-…"/g, (m) => `g${m.slice(1, 5)}`);
    const c = parseConfig(filled, file);
    expect(c.identity.oidc).toHaveLength(1);
    expect(c.identity.signInNetworks).toEqual(['192.168.20.0/24']);
  });
});
