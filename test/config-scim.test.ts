import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../core/config/load.ts';
import { interpretPatch, parseUserFilter, ScimError } from '../core/identity/scim.ts';
import { issueScimToken, ScimTokenError, scimTokenSource } from '../core/identity/scim-token.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tmp.ts';

// identity.scim: configuration errors name the key; the token is kept as a hash and compared whole;
// the pure parts of SCIM (filter, PatchOp) refuse what they do not understand.

const OIDC = `identity:
  oidc:
    - { id: entra, displayName: M365, issuer: "https://login.example/t/v2.0", clientId: c, clientSecret: s }
`;
const scim = (extra: string) => `${OIDC}  scim:\n    enabled: true\n${extra}`;

function problems(yaml: string): string {
  try {
    parseConfig(yaml, 'f.yaml', {});
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems.join('\n');
  }
  throw new Error('expected a ConfigError');
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('identity.scim configuration', () => {
  it('accepts a provider that exists, with defaults', () => {
    const c = parseConfig(scim('    provider: entra\n'), 'f.yaml', {});
    expect(c.identity.scim).toMatchObject({ enabled: true, provider: 'entra', tokenEnv: 'FAIRWATCH_SCIM_TOKEN', groups: {}, maxChangesPerMinute: 600 });
  });
  it.each([
    ['an unknown provider', scim('    provider: google\n'), /identity\.scim\.provider: "google" is not the id of a provider in identity\.oidc \(entra\)/],
    ['no provider', scim(''), /identity\.scim\.provider: required/],
    ['a group policy does not have', scim('    provider: entra\n    groups: { "FW Kitchen": kitchen }\n'), /f\.yaml:\d+: identity\.scim\.groups\.FW Kitchen: "kitchen" is not a group in policy\.groups/],
    ['a default group policy does not have', scim('    provider: entra\n    defaultGroup: nobody\n'), /identity\.scim\.defaultGroup: "nobody" is not a group/],
    ['an unknown key', scim('    provider: entra\n    token: abc\n'), /identity\.scim\.token: unknown key/],
  ])('%s is refused naming the key', (_n, yaml, pattern) => {
    expect(problems(yaml)).toMatch(pattern);
  });
});

describe('the SCIM token', () => {
  it('is kept as a SHA-256 in a 0600 file; the check accepts it and nothing else; a new one replaces it', () => {
    const dataDir = join(tmp.dir, 'd1');
    const { token, path } = issueScimToken(dataDir, {});
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = readFileSync(path, 'utf8');
    expect(stored).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(stored).not.toContain(token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const check = scimTokenSource(dataDir, { tokenEnv: 'FAIRWATCH_SCIM_TOKEN' }, {})()!;
    expect(check(token)).toBe(true);
    expect(check(token.slice(0, -1))).toBe(false);
    expect(check(`${token} `)).toBe(false);
    const second = issueScimToken(dataDir, {});
    const now = scimTokenSource(dataDir, { tokenEnv: 'FAIRWATCH_SCIM_TOKEN' }, {})()!;
    expect(now(token)).toBe(false);
    expect(now(second.token)).toBe(true);
  });
  it('comes from the environment variable when set (at least 32 characters); none configured is null; a damaged file is named', () => {
    const dataDir = join(tmp.dir, 'd2');
    const cfg = { tokenEnv: 'FAIRWATCH_SCIM_TOKEN' };
    expect(scimTokenSource(dataDir, cfg, {})()).toBeNull();
    const env = scimTokenSource(dataDir, cfg, { FAIRWATCH_SCIM_TOKEN: 'e'.repeat(40) })()!;
    expect(env('e'.repeat(40))).toBe(true);
    expect(() => scimTokenSource(dataDir, cfg, { FAIRWATCH_SCIM_TOKEN: 'short' })()).toThrow(/FAIRWATCH_SCIM_TOKEN: the SCIM token must be at least 32 characters/);
    const file = join(tmp.dir, 'bad.sha256');
    writeFileSync(file, 'plain-token\n');
    expect(() => scimTokenSource(dataDir, { ...cfg, tokenHashFile: file }, {})()).toThrow(ScimTokenError);
  });
  it('`fairwatch users scim-token` prints a token once and keeps its hash', async () => {
    const dataDir = join(tmp.dir, 'cli');
    const configPath = join(tmp.dir, 'fairwatch.yaml');
    writeFileSync(configPath, scim('    provider: entra\n'));
    const env = { FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: configPath, FAIRWATCH_SCIM_TOKEN: '' };
    const r = await runCli(['users', 'scim-token'], { env });
    expect(r.code, r.stderr).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.stderr).toContain('scim-token.sha256');
    expect(scimTokenSource(dataDir, { tokenEnv: 'FAIRWATCH_SCIM_TOKEN' }, {})()!(token)).toBe(true);
    const withEnv = await runCli(['users', 'scim-token'], { env: { ...env, FAIRWATCH_SCIM_TOKEN: 'x'.repeat(40) } });
    expect(withEnv.code).toBe(2);
    expect(withEnv.stderr).toContain('FAIRWATCH_SCIM_TOKEN is set');
  }, 60_000);
});

describe('SCIM requests (pure parts)', () => {
  it('understands only userName eq "…"', () => {
    expect(parseUserFilter('userName eq "a\\"b@x.org"')).toBe('a"b@x.org');
    for (const f of ['userName sw "a"', 'userName eq "a" or userName eq "b"', 'displayName eq "a"', '']) expect(() => parseUserFilter(f)).toThrow(ScimError);
  });
  it('reads active from the path form and the value form, refuses roles and renames, ignores the rest', () => {
    const u = { username: 'sam@x.org' };
    expect(interpretPatch([{ op: 'Replace', path: 'active', value: false }], u)).toEqual({ active: false });
    expect(interpretPatch([{ op: 'replace', value: { active: 'False', displayName: 'Sam' } }], u)).toEqual({ active: false });
    expect(interpretPatch([{ op: 'Add', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager', value: 'm' }], u)).toEqual({});
    expect(interpretPatch([{ op: 'Replace', path: 'userName', value: 'SAM@x.org' }], u)).toEqual({});
    expect(() => interpretPatch([{ op: 'Replace', path: 'userName', value: 'eve@x.org' }], u)).toThrow(/mutability|rename/);
    expect(() => interpretPatch([{ op: 'Add', path: 'roles', value: [{ value: 'director' }] }], u)).toThrow(/roles are not set through SCIM/);
    expect(() => interpretPatch([{ op: 'Replace', value: { entitlements: ['x'] } }], u)).toThrow(/Operations\.0\.value\.entitlements/);
    expect(() => interpretPatch([{ op: 'Replace', path: 'active', value: 'maybe' }], u)).toThrow(/Operations\.0\.value: active must be true or false/);
  });
});
