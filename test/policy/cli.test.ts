import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FIXTURE_LISTS, TEST_POLICY_YAML } from './policy-config.ts';

const tmp = tempDir('fw-policy-cli-');
const configPath = join(tmp.dir, 'fairwatch.yaml');
const env = { FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: configPath, FAIRWATCH_BLOCKLISTS: resolve(FIXTURE_LISTS) };
let server: Server;
let port = 0;

beforeAll(async () => {
  writeFileSync(configPath, TEST_POLICY_YAML);
  // a UT1-style archive: categories wrapped in blacklists/, served by a local web server
  const src = join(tmp.dir, 'ut1', 'blacklists');
  mkdirSync(join(src, 'gambling'), { recursive: true });
  mkdirSync(join(src, 'games'), { recursive: true });
  writeFileSync(join(src, 'gambling', 'domains'), 'from-archive.example\nbet365.com\n');
  writeFileSync(join(src, 'games', 'domains'), 'miniclip.com\n');
  expect(spawnSync('tar', ['-czf', join(tmp.dir, 'ut1.tar.gz'), '-C', join(tmp.dir, 'ut1'), 'blacklists']).status).toBe(0);
  writeFileSync(join(tmp.dir, 'broken.tar.gz'), 'this is not a gzip file');
  server = createServer((req, res) => {
    const file = req.url === '/ut1.tar.gz' ? 'ut1.tar.gz' : req.url === '/broken.tar.gz' ? 'broken.tar.gz' : null;
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(join(tmp.dir, file)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  const add = await runCli(['users', 'add', '--username', 'alice', '--role', 'staff', '--group', 'staff', '--password-stdin'], { env, stdin: 'a long enough password\n' });
  expect(add.code, add.stderr).toBe(0);
});
afterAll(() => {
  server?.close();
  tmp.cleanup();
});

describe('fairwatch policy test', () => {
  it('prints one JSON line with action, category, rule and reason', async () => {
    const r = await runCli(['policy', 'test', '--user', 'Alice', '--url', 'https://m.facebook.com/groups', '--at', '2026-11-24T10:00:00Z'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({ action: 'block', category: 'social_networks', rule: 'rule:social', reason: 'Social media may be used only in breaks and outside working hours.' });
    const lunch = await runCli(['policy', 'test', '--user', 'alice', '--url', 'facebook.com', '--at', '2026-11-24T12:45:00Z'], { env });
    expect(JSON.parse(lunch.stdout)).toMatchObject({ action: 'allow', category: 'social_networks', rule: 'default' });
  });

  it('names what is wrong: unknown user, bad URL, bad time', async () => {
    const nobody = await runCli(['policy', 'test', '--user', 'nobody', '--url', 'https://example.com/'], { env });
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/--user "nobody": no such user/);
    const badUrl = await runCli(['policy', 'test', '--user', 'alice', '--url', 'http://exa mple.com/'], { env });
    expect([badUrl.code, badUrl.stderr]).toEqual([2, expect.stringMatching(/--url "http:\/\/exa mple.com\/": not a URL/)]);
    const badAt = await runCli(['policy', 'test', '--user', 'alice', '--url', 'https://example.com/', '--at', 'teatime'], { env });
    expect([badAt.code, badAt.stderr]).toEqual([2, expect.stringMatching(/--at "teatime": not a time/)]);
  });
});

describe('fairwatch blocklists', () => {
  it('stats lists categories with counts, aliases, load time, memory and the first bad lines', async () => {
    const r = await runCli(['blocklists', 'stats'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^adult\s+13\s+2\s+0\s+5\s+porn$/m);
    expect(r.stdout).toMatch(/^redirector\s+1\s+0\s+2\s+2$/m);
    expect(r.stdout).toMatch(/distinct names in 13 categories; loaded in \d+ ms; table [\d.]+ MB; memory added [\d.]+ MB \(process RSS [\d.]+ MB\)/);
    expect(r.stdout).toMatch(/adult\/domains:15: not a host name: "bad\.\.name\.com"/);
    const json = JSON.parse((await runCli(['blocklists', 'stats', '--json'], { env })).stdout);
    expect(json.categories.find((c: { name: string }) => c.name === 'local')).toMatchObject({ domains: 2, urls: 2 });
  });

  it('update from a directory, a URL (tar.gz) and rollback; a broken source changes nothing', async () => {
    const live = join(tmp.dir, 'lists');
    cpSync(FIXTURE_LISTS, live, { recursive: true, verbatimSymlinks: true });
    const e = { ...env, FAIRWATCH_BLOCKLISTS: live };

    const fromUrl = await runCli(['blocklists', 'update', '--from', `http://127.0.0.1:${port}/ut1.tar.gz`], { env: e });
    expect(fromUrl.code, fromUrl.stderr).toBe(0);
    expect(fromUrl.stdout).toMatch(/updated .*lists: 2 categories/);
    expect(fromUrl.stdout).toMatch(/previous set kept in .*lists\.previous/);
    expect(readFileSync(join(live, 'gambling', 'domains'), 'utf8')).toContain('from-archive.example');
    // the organisation's own lists came across
    expect(readFileSync(join(live, 'local', 'deny'), 'utf8')).toContain('local-banned.example');
    expect(existsSync(join(live, 'adult'))).toBe(false);

    const broken = await runCli(['blocklists', 'update', '--from', `http://127.0.0.1:${port}/broken.tar.gz`], { env: e });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/blocklists update: tar .*failed.*\(the current lists are unchanged\)/);
    expect(readFileSync(join(live, 'gambling', 'domains'), 'utf8')).toContain('from-archive.example');
    const missing = await runCli(['blocklists', 'update', '--from', `http://127.0.0.1:${port}/nope.tar.gz`], { env: e });
    expect(missing.stderr).toMatch(/HTTP 404/);

    const rollback = await runCli(['blocklists', 'rollback'], { env: e });
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(existsSync(join(live, 'adult', 'domains'))).toBe(true);

    const fromDir = await runCli(['blocklists', 'update', '--from', join(tmp.dir, 'ut1')], { env: e });
    expect(fromDir.code, fromDir.stderr).toBe(0);
    expect(readFileSync(join(live, 'gambling', 'domains'), 'utf8')).toContain('from-archive.example');
    const empty = join(tmp.dir, 'empty');
    mkdirSync(empty);
    const none = await runCli(['blocklists', 'update', '--from', empty], { env: e });
    expect([none.code, none.stderr]).toEqual([1, expect.stringMatching(/no categories with entries found/)]);
  });
});
