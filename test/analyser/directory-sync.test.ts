import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogFor } from '../../core/audit/log.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { pollUntil } from '../helpers/poll.ts';
import { baseLdif, personLdif, Slapd, SUFFIX } from '../helpers/slapd.ts';
import { tempDir } from '../helpers/tmp.ts';

// `fairwatch users sync` and identity.ldap.syncCron against Debian's slapd without the memberof
// overlay (groups from a member search): starters added without a password, leavers disabled and
// kept, group changes applied, every change in the audit chain, --dry-run writing nothing.

const SERVICE_PW = 'service secret 1';
const STAFF = `cn=staff,ou=groups,${SUFFIX}`;
const VOLS = `cn=volunteers,ou=groups,${SUFFIX}`;
const tmp = tempDir('fw-dir-sync-');
let slapd: Slapd;
let env: NodeJS.ProcessEnv;

function writeConfig(extra: string[] = [], syncFilter?: string): string {
  const cfg = join(tmp.dir, `fairwatch-${extra.length}-${syncFilter ? 1 : 0}.yaml`);
  writeFileSync(cfg, [
    'identity:', '  ldap:', `    url: ${slapd.url}`, `    bindDN: "cn=fairwatch,${SUFFIX}"`, `    userBase: "ou=people,${SUFFIX}"`,
    '    userFilter: "(uid={username})"', '    groupMembership: search', `    groupBase: "ou=groups,${SUFFIX}"`,
    ...(syncFilter ? [`    syncFilter: "${syncFilter}"`] : []), ...extra,
    '    groups:', `      "${STAFF}": staff`, `      "${VOLS}": volunteers`, '',
  ].join('\n'));
  return cfg;
}

async function list(e = env): Promise<Record<string, { group: string; disabled: boolean }>> {
  const r = await runCli(['users', 'list', '--json'], { env: e, timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { username: string; group: string; disabled: boolean }).map((u) => [u.username, { group: u.group, disabled: u.disabled }]));
}

const sync = (args: string[] = [], e = env) => runCli(['users', 'sync', ...args], { env: e, timeoutMs: 120_000 });

beforeAll(async () => {
  slapd = await Slapd.start(join(tmp.dir, 'slapd'));
  slapd.add(baseLdif(SERVICE_PW));
  slapd.add(['alice', 'bob', 'carol', 'lena', 'zed'].map((u, i) => personLdif(u, `${u} ldap password`, 1001 + i)).join('\n'));
  slapd.add(`dn: ${STAFF}\nobjectClass: groupOfNames\ncn: staff\n${['alice', 'carol', 'lena'].map((u) => `member: uid=${u},ou=people,${SUFFIX}`).join('\n')}\n\n` +
    // (the service account keeps the group non-empty when bob leaves it; it is not under userBase)
    `dn: ${VOLS}\nobjectClass: groupOfNames\ncn: volunteers\nmember: uid=bob,ou=people,${SUFFIX}\nmember: cn=fairwatch,${SUFFIX}\n`);
  env = { FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: writeConfig(), FAIRWATCH_LDAP_BIND_PASSWORD: SERVICE_PW, FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists') };
  // a local account with the same name as a directory person: sync leaves it alone
  expect((await runCli(['users', 'add', '--username', 'lena', '--role', 'it', '--group', 'it', '--password-stdin'], { env, stdin: 'lena local password', timeoutMs: 120_000 })).code).toBe(0);
}, 180_000);
afterAll(async () => {
  await slapd?.stop();
  tmp.cleanup();
});

describe('users sync (slapd, member search)', () => {
  it('--dry-run prints the starters and writes nothing', async () => {
    const r = await sync(['--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe([
      'would add alice (group staff)', 'would add bob (group volunteers)', 'would add carol (group staff)',
      'note: lena: has a local password, so it is a local account and left alone (local name wins)',
      'dry run: 3 changes (nothing written)', '',
    ].join('\n'));
    expect(Object.keys(await list())).toEqual(['lena']);
  }, 180_000);

  it('adds starters without a password; zed, in no mapped group, is not added', async () => {
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 changes applied\n$/);
    expect(await list()).toEqual({
      alice: { group: 'staff', disabled: false }, bob: { group: 'volunteers', disabled: false },
      carol: { group: 'staff', disabled: false }, lena: { group: 'it', disabled: false },
    });
  }, 180_000);

  it('leavers (deleted or locked in the directory) are disabled and kept; a group move is applied; a second run changes nothing', async () => {
    slapd.delete(`uid=carol,ou=people,${SUFFIX}`);
    slapd.modify(`dn: uid=alice,ou=people,${SUFFIX}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
    slapd.modify(`dn: ${VOLS}\nchangetype: modify\ndelete: member\nmember: uid=bob,ou=people,${SUFFIX}\n\n` +
      `dn: ${STAFF}\nchangetype: modify\nadd: member\nmember: uid=bob,ou=people,${SUFFIX}\n`);
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('group bob: volunteers → staff\ndisable alice (disabled in the directory)\ndisable carol (gone from the directory)\n' +
      'note: lena: has a local password, so it is a local account and left alone (local name wins)\n3 changes applied\n');
    expect(await list()).toEqual({
      alice: { group: 'staff', disabled: true }, bob: { group: 'staff', disabled: false },
      carol: { group: 'staff', disabled: true }, lena: { group: 'it', disabled: false },
    });
    expect((await sync()).stdout).toMatch(/^note: lena: .*\n0 changes applied\n$/);
  }, 180_000);

  it('doctor says whether the directory can be used', async () => {
    const good = await runCli(['doctor'], { env, timeoutMs: 120_000 });
    expect(good.stdout).toContain(`directory:        ${slapd.url} (service account bound, userBase readable)`);
    const bad = await runCli(['doctor'], { env: { ...env, FAIRWATCH_LDAP_BIND_PASSWORD: 'not the password' }, timeoutMs: 120_000 });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('directory:        NOT USABLE');
    expect(bad.stderr).toMatch(/problem: identity\.ldap: ldap:\/\/127\.0\.0\.1:\d+: the service account \(identity\.ldap\.bindDN\) was refused: check its password/);
  }, 180_000);

  it('without identity.ldap the command says what to set', async () => {
    const cfg = join(tmp.dir, 'no-ldap.yaml');
    writeFileSync(cfg, 'proxy: { port: 0 }\n');
    const r = await sync(['--dry-run'], { ...env, FAIRWATCH_CONFIG: cfg });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/identity\.ldap is not set in the config: `users sync` reads the directory named there/);
  }, 180_000);

  it('a directory that lists nobody does not disable everyone', async () => {
    const r = await sync([], { ...env, FAIRWATCH_CONFIG: writeConfig([], '(uid=nobody-at-all)') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/users sync: the directory listed no users: refusing to disable 1 account\(s\); check identity\.ldap\.userBase and identity\.ldap\.syncFilter/);
  }, 180_000);

  it('identity.ldap.syncCron: the analyser brings a starter in on its schedule', async () => {
    slapd.add(personLdif('dan', 'dan ldap password', 1010));
    slapd.modify(`dn: ${VOLS}\nchangetype: modify\nadd: member\nmember: uid=dan,ou=people,${SUFFIX}\n`);
    const scheduled = { ...env, FAIRWATCH_CONFIG: writeConfig(['    syncCron: "* * * * * *"']) };
    const analyser = startCli(['analyser'], { env: scheduled, timeoutMs: 120_000 });
    try {
      await analyser.ready;
      expect(analyser.output().stdout).toContain('directory sync (* * * * * *)');
      const users = await pollUntil(() => list(scheduled), (u) => 'dan' in u, 60_000, 1000);
      expect(users.dan).toEqual({ group: 'volunteers', disabled: false });
    } finally {
      expect(await analyser.stop()).toBe(0);
    }
  }, 240_000);

  it('every change is one audit row naming the user by id, never by name; the chain verifies', async () => {
    const { platform, cleanup } = await openTestPlatform({ dataDir: env.FAIRWATCH_DATA_DIR });
    try {
      const rows = await platform.store.rows<{ action: string; actor_role: string; target: string; reason: string }>(
        `SELECT action, actor_role, target, reason FROM ${platform.store.database}.audit_log WHERE action LIKE 'user-sync-%' ORDER BY seq`);
      expect(rows.map((r) => `${r.action} ${r.actor_role} ${r.reason}`)).toEqual([
        'user-sync-add operator starter in the directory (group staff)',
        'user-sync-add operator starter in the directory (group volunteers)',
        'user-sync-add operator starter in the directory (group staff)',
        'user-sync-group operator group volunteers → staff in the directory',
        'user-sync-disable operator leaver: disabled in the directory',
        'user-sync-disable operator leaver: gone from the directory',
        'user-sync-add analyser starter in the directory (group volunteers)',
      ]);
      const ids = new Map((await platform.users.list()).map((u) => [u.userId, u.username]));
      expect(rows.map((r) => ids.get(r.target))).toEqual(['alice', 'bob', 'carol', 'bob', 'alice', 'carol', 'dan']);
      expect((await platform.users.get('dan'))!.passwordHash).toBe('');
      expect((await auditLogFor(platform.store, platform.redis).verify()).ok).toBe(true);
    } finally {
      await cleanup();
    }
  }, 120_000);
});
