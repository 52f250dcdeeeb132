import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../core/events/event.ts';
import { eventsOfEntries } from '../helpers/stream-events.ts';
import { aupSetKey } from '../../core/identity/aup.ts';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { loadKey } from '../../core/keys.ts';
import { managedRedisUrl } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { pollUntil } from '../helpers/poll.ts';
import { baseLdif, personLdif, Slapd, SUFFIX } from '../helpers/slapd.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startOrigin, type Origin } from './harness.ts';

// Proxy sign-in with identity.ldap through the real `fairwatch proxy` role and curl --proxy-user,
// against Debian's slapd with the memberof overlay, over LDAPS with a test CA (identity.ldap.tlsCaFile). The service password comes from
// FAIRWATCH_LDAP_BIND_PASSWORD. identity.authCacheSeconds is 1 so re-checks happen within the test.

const run = promisify(execFile);
const SERVICE_PW = 'service secret 1';
const STAFF = `cn=staff,ou=groups,${SUFFIX}`;
const VOLS = `cn=volunteers,ou=groups,${SUFFIX}`;
const tmp = tempDir('fw-ldap-proxy-');
let slapd: Slapd;
let origin: Origin;
let server: ReturnType<typeof startCli>;
let port: number;
let redis: Redis;
let env: NodeJS.ProcessEnv;
let shop: string;

const until = <T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000) => pollUntil(fn, ok, timeoutMs, 200);

function curl(user: string, url = shop): Promise<string> {
  return run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', `http://127.0.0.1:${port}`, '--proxy-user', user, '-o', '/dev/null', '-w', '%{http_code}', url])
    .then((r) => r.stdout, (e) => (e as { stdout: string }).stdout);
}

async function streamEvents(): Promise<AccessEvent[]> {
  return eventsOfEntries(await redis.xrange('fairwatch:events', '-', '+'));
}

beforeAll(async () => {
  slapd = await Slapd.start(join(tmp.dir, 'slapd'), { memberOf: true, tls: true });
  slapd.add(baseLdif(SERVICE_PW));
  slapd.add(['alice', 'bob', 'carol', 'dave', 'erin', 'lena', 'otto'].map((u, i) => personLdif(u, `${u} ldap password`, 1001 + i)).join('\n'));
  slapd.add(`dn: ${STAFF}\nobjectClass: groupOfNames\ncn: staff\n${['alice', 'carol', 'dave', 'erin', 'lena'].map((u) => `member: uid=${u},ou=people,${SUFFIX}`).join('\n')}\n\n` +
    `dn: ${VOLS}\nobjectClass: groupOfNames\ncn: volunteers\nmember: uid=bob,ou=people,${SUFFIX}\nmember: uid=alice,ou=people,${SUFFIX}\n`);
  origin = await startOrigin();
  shop = `http://amazon.co.uk:${origin.port}/small`;
  const hosts = join(tmp.dir, 'hosts');
  writeFileSync(hosts, '127.0.0.1 amazon.co.uk\n');
  const cfg = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(cfg, [
    'proxy:', '  workers: 1', '  allowDestinations: ["127.0.0.1"]', `  hostsFile: ${JSON.stringify(hosts)}`,
    'identity:', '  authCacheSeconds: 1', '  ldap:', `    url: ${slapd.ldapsUrl}`, `    tlsCaFile: ${JSON.stringify(slapd.caFile)}`, `    bindDN: "cn=fairwatch,${SUFFIX}"`,
    `    userBase: "ou=people,${SUFFIX}"`, '    userFilter: "(uid={username})"', '    outageGraceMinutes: 60',
    // alice is in both: staff is listed first, so she is staff; otto is in neither and is refused
    '    groups:', `      "${STAFF}": staff`, `      "${VOLS}": volunteers`,
    'policy:', '  rules:', '    - { groups: [volunteers], categories: [shopping], action: block, clause: "Volunteers do not shop on rota time." }', '',
  ].join('\n'));
  env = {
    FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_LDAP_BIND_PASSWORD: SERVICE_PW,
    FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
  };
  server = startCli(['proxy'], { env });
  await server.ready;
  port = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(server.output().stdout)![1]);
  redis = new Redis(managedRedisUrl(env.FAIRWATCH_DATA_DIR!)!);
  // everyone has accepted the statement, so the policy decides
  const p = new Pseudonymiser(loadKey(env.FAIRWATCH_DATA_DIR!, 'pseudonym'));
  await redis.sadd(aupSetKey('1'), ...['alice', 'bob', 'carol', 'dave', 'erin', 'lena', 'otto'].map((u) => p.user(u)));
}, 120_000);
afterAll(async () => {
  redis?.disconnect();
  expect(await server?.stop()).toBe(0);
  await slapd?.stop();
  await origin?.close();
  tmp.cleanup();
});

describe('proxy sign-in with identity.ldap (slapd, memberOf)', () => {
  it('the right directory password is allowed and the event holds the directory group (pseudonymised); wrong ones get 407', async () => {
    expect(await curl('alice:alice ldap password')).toBe('200');
    const e = (await until(streamEvents, (ev) => ev.some((x) => x.status === 200))).find((x) => x.status === 200)!;
    expect(e.user_group).toBe('staff');
    expect(JSON.stringify(e)).not.toContain('alice');
    expect(await curl('alice:wrong password')).toBe('407');
    expect(await curl('*)(uid=*:alice ldap password')).toBe('407');
    expect(await curl('alice:')).toBe('407');
    // in no mapped group and no identity.ldap.defaultGroup: refused
    expect(await curl('otto:otto ldap password')).toBe('407');
  });

  it('the directory group decides the policy: shopping is blocked for volunteers, not for staff', async () => {
    expect(await curl('bob:bob ldap password')).toBe('403');
    const blocked = (await until(streamEvents, (ev) => ev.some((x) => x.status === 403))).find((x) => x.status === 403)!;
    expect(blocked).toMatchObject({ action: 'block', category: 'shopping', user_group: 'volunteers' });
    expect(await curl('carol:carol ldap password')).toBe('200');
  });

  it('a local user works beside the directory, and a local name wins over the same name in the directory', async () => {
    const add = await runCli(['users', 'add', '--username', 'lena', '--role', 'staff', '--group', 'volunteers', '--password-stdin'], { env, stdin: 'lena local password' });
    expect(add.code).toBe(0);
    expect(await until(() => curl('lena:lena local password'), (c) => c !== '407')).toBe('403');
    // the directory's password for the same name is not asked for
    expect(await curl('lena:lena ldap password')).toBe('407');
  });

  it('a person synced from the directory signs in with the directory password; disabled here, they are refused', async () => {
    const sync = await runCli(['users', 'sync'], { env, timeoutMs: 120_000 });
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toContain('add bob (group volunteers)');
    expect(await until(() => curl('bob:bob ldap password'), (c) => c !== '407')).toBe('403');
    expect((await runCli(['users', 'disable', '--username', 'bob'], { env })).code).toBe(0);
    expect(await until(() => curl('bob:bob ldap password'), (c) => c === '407')).toBe('407');
  });

  it('an account locked or deleted in the directory is refused once the remembered sign-in expires', async () => {
    expect(await curl('carol:carol ldap password')).toBe('200');
    expect(await curl('dave:dave ldap password')).toBe('200');
    slapd.modify(`dn: uid=carol,ou=people,${SUFFIX}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
    slapd.delete(`uid=dave,ou=people,${SUFFIX}`);
    expect(await until(() => curl('carol:carol ldap password'), (c) => c === '407')).toBe('407');
    expect(await until(() => curl('dave:dave ldap password'), (c) => c === '407')).toBe('407');
  });

  it('directory stopped: a signed-in person keeps browsing within the grace; a new sign-in gets 407, flagged and logged', async () => {
    expect(await curl('alice:alice ldap password')).toBe('200');
    await slapd.stop();
    expect(await curl('erin:erin ldap password')).toBe('407');
    const e = (await until(streamEvents, (ev) => ev.some((x) => x.flags.includes('directory-unavailable')))).find((x) => x.flags.includes('directory-unavailable'));
    expect(e).toMatchObject({ status: 407, action: 'auth-required' });
    // past the 1 s cache alice is answered from the grace (the directory cannot be asked)
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 3; i++) expect(await curl('alice:alice ldap password')).toBe('200');
    expect(await curl('alice:a wrong password')).toBe('407');
    const out = server.output();
    expect(out.stdout + out.stderr).toMatch(/identity\.ldap: the directory cannot be reached .*new proxy sign-ins get 407/);
    // once it is back, new sign-ins work again
    await slapd.run();
    expect(await until(() => curl('erin:erin ldap password'), (c) => c === '200', 30_000)).toBe('200');
  });
});
