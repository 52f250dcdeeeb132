import { cpSync, writeFileSync, appendFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from '../../core/platform.ts';
import { PolicyHolder, publishPolicyReload } from '../../core/policy/holder.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FIXTURE_LISTS, req, TEST_POLICY_YAML } from './policy-config.ts';
import { parseConfig } from '../../core/config/load.ts';

const WORK = '2026-11-24T10:00:00Z';
const tmp = tempDir('fw-holder-');
const lines: string[] = [];
const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
let platform: Platform;
let cleanup: () => Promise<void>;
let holder: PolicyHolder;
const listsDir = join(tmp.dir, 'blocklists');
const configPath = join(tmp.dir, 'fairwatch.yaml');

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const decideFor = (url: string) => holder.current().decide(req('staff', url, WORK));

beforeAll(async () => {
  cpSync(FIXTURE_LISTS, listsDir, { recursive: true, verbatimSymlinks: true });
  writeFileSync(configPath, TEST_POLICY_YAML);
  ({ platform, cleanup } = await openTestPlatform({ store: false, redis: true }));
  holder = await PolicyHolder.open({
    config: parseConfig(TEST_POLICY_YAML),
    runtime: { dataDir: tmp.dir, configPath, blocklistsDir: listsDir, clickhouseUrl: null, redisUrl: null },
    log,
    env: {},
  });
  await holder.watch({ redis: platform.redis, debounceMs: 100 });
});
afterAll(async () => {
  await holder.close();
  await cleanup();
  tmp.cleanup();
});

describe('policy reload', () => {
  it('picks up a list change from the file watcher', async () => {
    expect(decideFor('https://newly-listed.example/').action).toBe('allow');
    const before = holder.current();
    appendFileSync(join(listsDir, 'gambling', 'domains'), 'newly-listed.example\n');
    await until('file-change reload', () => decideFor('https://newly-listed.example/').action === 'block');
    expect(holder.current()).not.toBe(before);
    expect(lines.join('')).toMatch(/policy reloaded \(lists changed\)/);
  });

  it('keeps the old snapshot when a new list is broken, and says why', async () => {
    const good = holder.current();
    const reloads = holder.reloads;
    writeFileSync(join(listsDir, 'games', 'domains'), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x0a, 0x00]));
    const r = await holder.reload('test');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/games\/domains:1: binary data/);
    expect(holder.current()).toBe(good);
    expect(holder.lastError).toMatch(/games\/domains:1: binary data/);
    // still serving the old lists
    expect(decideFor('https://miniclip.com/').action).toBe('block');
    expect(lines.join('')).toMatch(/policy reload refused, the previous policy stays in force: .*games\/domains:1: binary data/);
    // the watcher's own reload of that change must not have swapped either
    await new Promise((r) => setTimeout(r, 400));
    expect(holder.current()).toBe(good);
    writeFileSync(join(listsDir, 'games', 'domains'), 'miniclip.com\nroblox.com\n');
    await until('recovered', () => holder.reloads > reloads && holder.lastError === null);
  });

  it('keeps the old snapshot when the config becomes invalid, naming file, line and key', async () => {
    const good = holder.current();
    writeFileSync(configPath, TEST_POLICY_YAML.replace('defaultAction: allow', 'defaultAction: permit'));
    const r = await holder.reload('test');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/fairwatch\.yaml:\d+: policy\.defaultAction/);
    expect(holder.current()).toBe(good);
    writeFileSync(configPath, TEST_POLICY_YAML);
    await until('config fixed', () => holder.lastError === null);
  });

  it('reloads a changed rule on SIGHUP and on a pub/sub message', async () => {
    // with file watching debounced, write then signal: both paths end with the new rule in force
    writeFileSync(configPath, TEST_POLICY_YAML.replace('defaultAction: allow', 'defaultAction: log'));
    process.emit('SIGHUP', 'SIGHUP');
    await until('SIGHUP reload', () => decideFor('https://www.unlisted-site.org/').action === 'log');
    writeFileSync(join(listsDir, 'games', 'domains'), 'miniclip.com\nroblox.com\nnew-game.example\n');
    const n = holder.reloads;
    await publishPolicyReload(platform.redis, 'test');
    await until('pub/sub reload', () => holder.reloads > n && decideFor('https://new-game.example/').action === 'block');
    expect(lines.join('')).toMatch(/policy reloaded \((SIGHUP|config changed)\)/);
  });

  it('follows the directory when it is replaced by rename (blocklists update)', async () => {
    const fresh = join(tmp.dir, 'incoming');
    cpSync(listsDir, fresh, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(fresh, 'gambling', 'domains'), 'bet365.com\nreplaced-set.example\n');
    renameSync(listsDir, join(tmp.dir, 'blocklists.previous'));
    renameSync(fresh, listsDir);
    await until('replaced directory reload', () => decideFor('https://replaced-set.example/').action === 'block');
    appendFileSync(join(listsDir, 'gambling', 'domains'), 'after-replace.example\n');
    await until('watch re-armed on the new directory', () => decideFor('https://after-replace.example/').action === 'block');
  });
});
