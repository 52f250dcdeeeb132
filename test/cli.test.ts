import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, readManagedInfo } from '../core/storage/redis.ts';
import { runCli, startCli } from './helpers/cli.ts';
import { tempDir } from './helpers/tmp.ts';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const env = { FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: '' };

describe('fairwatch CLI', () => {
  it('users add / list / disable on a stopped data directory', async () => {
    const add = await runCli(['users', 'add', '--username', 'Dee', '--role', 'director', '--password-stdin'], { env, stdin: 'a very long password\n' });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/^created dee \(role director, group staff\)\ntotp-secret: [A-Z2-7]{16,}\n$/);
    const staff = await runCli(['users', 'add', '--username', 'sam', '--role', 'staff', '--group', 'volunteers', '--password-stdin'], { env, stdin: 'staff password 123' });
    expect(staff.code).toBe(0);
    expect(staff.stdout).not.toMatch(/totp-secret/);
    const dis = await runCli(['users', 'disable', '--username', 'sam'], { env });
    expect(dis.stdout).toBe('disabled sam\n');
    const list = await runCli(['users', 'list', '--json'], { env });
    expect(list.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((u) => [u.username, u.role, u.group, u.disabled]))
      .toEqual([['dee', 'director', 'staff', false], ['sam', 'staff', 'volunteers', true]]);
  });

  it.each([
    [['users', 'add', '--username', 'x', '--role', 'king', '--password-stdin'], 'pw long enough', /--role "king": expected one of staff, it, director, dpo/],
    [['users', 'add', '--username', 'x', '--role', 'staff', '--password-stdin'], 'short', /password: at least 10 characters/],
    [['users', 'add', '--username', 'bad name!', '--role', 'staff', '--password-stdin'], 'pw long enough', /--username "bad name!"/],
    [['users', 'add', '--username', 'x', '--role', 'staff', '--group', 'nope', '--password-stdin'], 'pw long enough', /--group "nope": not a group/],
    [['users', 'add', '--username', 'dee', '--role', 'staff', '--password-stdin'], 'pw long enough', /user "dee" already exists/],
    [['users', 'disable', '--username', 'ghost'], '', /no user "ghost"/],
  ])('bad input %j gives a one-line error', async (args, stdin, pattern) => {
    const r = await runCli(args, { env, stdin });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a bad config names file, line and key and writes nothing', async () => {
    const cfg = join(tmp.dir, 'bad.yaml');
    writeFileSync(cfg, 'proxy:\n  port: 3128\n  colour: blue\n');
    const r = await runCli(['users', 'list'], { env: { FAIRWATCH_DATA_DIR: join(tmp.dir, 'never'), FAIRWATCH_CONFIG: cfg } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`fairwatch: ${cfg}:3: proxy.colour: unknown key (check the spelling; see fairwatch.example.yaml)\n`);
  });

  it('an unreadable data directory is named with the fix', async () => {
    const file = join(tmp.dir, 'a-file');
    writeFileSync(file, 'x');
    const r = await runCli(['users', 'list'], { env: { FAIRWATCH_DATA_DIR: join(file, 'sub') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data directory .*a-file\/sub is not usable \(ENOTDIR\): set FAIRWATCH_DATA_DIR/);
  });

  it('a missing redis-server binary is a one-line error naming the fix', async () => {
    const bin = join(tmp.dir, 'nobin');
    mkdirSync(bin);
    const r = await runCli(['start'], { env: { FAIRWATCH_DATA_DIR: join(tmp.dir, 'noredis'), PATH: bin } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/redis-server is not installed: run `sudo apt-get install -y redis-server`.*or set REDIS_URL/);
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    const r = await runCli(['nonsense'], { env });
    expect(r.code).toBe(2);
  });

  it('with start running: commands go through it, a second start gets the clear error, stop leaves no redis-server', async () => {
    const server = startCli(['start'], { env: { ...env, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0' } });
    await server.ready;
    try {
      const info = readManagedInfo(env.FAIRWATCH_DATA_DIR)!;
      expect(isAlive(info.pid)).toBe(true);
      const add = await runCli(['users', 'add', '--username', 'ivy', '--role', 'it', '--group', 'it', '--password-stdin'], { env, stdin: 'ivy password 1234' });
      expect(add.stderr).toBe('');
      expect(add.stdout).toMatch(/^created ivy \(role it, group it\)\ntotp-secret: [A-Z2-7]+\n$/);
      const list = await runCli(['users', 'list'], { env });
      expect(list.stdout).toMatch(/ivy\s+it\s+it\s+active/);
      const doctor = await runCli(['doctor'], { env });
      expect(doctor.code).toBe(0);
      expect(doctor.stdout).toMatch(/clickhouse:\s+\d+\.\d+.*embedded/);
      expect(doctor.stdout).toMatch(/redis:\s+\d+\.\d+\.\d+ \(managed redis-server/);
      const second = await runCli(['start'], { env });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`data directory ${env.FAIRWATCH_DATA_DIR} is in use by process ${server.child.pid} \\(fairwatch start`));
      expect(await server.stop('SIGTERM')).toBe(0);
      expect(isAlive(info.pid)).toBe(false);
    } finally {
      await server.stop('SIGKILL');
    }
    // after stop, the same commands open the store themselves
    const list = await runCli(['users', 'list', '--json'], { env });
    expect(list.stdout).toMatch(/"username":"ivy"/);
  });

  it('doctor names what is wrong and exits non-zero', async () => {
    const dir = join(tmp.dir, 'doc');
    const r = await runCli(['doctor'], { env: { FAIRWATCH_DATA_DIR: dir } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/problem: no active director/);
    chmodSync(join(dir, 'keys', 'pseudonym.key'), 0o644);
    const r2 = await runCli(['doctor'], { env: { FAIRWATCH_DATA_DIR: dir } });
    expect(r2.stderr).toMatch(/pseudonym.key is readable by others: chmod 600 it/);
  });
});
