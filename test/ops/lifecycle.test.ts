import { existsSync, writeFileSync } from 'node:fs';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlSocketPath, lockPath } from '../../core/storage/datadir.ts';
import { isAlive, readManagedInfo } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';
import { proxyLoad } from '../pipeline/load.ts';
import { startOrigin, type Origin } from '../proxy/harness.ts';

// With real signals to a real process group: `fairwatch` is started in its own
// process group (as a terminal or systemd does), requests go through its real proxy, then SIGINT or
// SIGTERM goes to the whole group (Ctrl-C, systemd's stop) or SIGTERM to the main process alone. It
// must exit 0, leave no lock file, control socket or redis-server behind, and every event the proxy
// answered must be stored once.

const tmp = tempDir('fw-life-');
let origin: Origin;
beforeAll(async () => { origin = await startOrigin(); });
afterAll(async () => {
  await origin.close();
  tmp.cleanup();
});

let n = 0;
function setup(): NodeJS.ProcessEnv {
  const dir = join(tmp.dir, `d${n++}`);
  const cfg = `${dir}.yaml`;
  writeFileSync(cfg, 'proxy:\n  workers: 2\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n');
  return {
    FAIRWATCH_DATA_DIR: dir, FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0',
    FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
  };
}

const WINDOW = ['--from', new Date(Date.now() - 86_400_000).toISOString(), '--to', new Date(Date.now() + 86_400_000).toISOString()];

async function storedCount(env: NodeJS.ProcessEnv): Promise<{ count: number; unique: number }> {
  const r = await runCli(['events', 'count', ...WINDOW, '--json'], { env, timeoutMs: 120_000 });
  expect(r.stderr).toBe('');
  const { count, unique } = JSON.parse(r.stdout) as { count: number; unique: number };
  return { count, unique };
}

/** Starts `fairwatch <role>` detached; returns it with its managed redis-server's pid. */
async function launch(role: string, env: NodeJS.ProcessEnv) {
  const fw = startCli([role], { env, detached: true, timeoutMs: 120_000 });
  await fw.ready;
  const redisPid = readManagedInfo(env.FAIRWATCH_DATA_DIR!)!.pid;
  expect(isAlive(redisPid)).toBe(true);
  const port = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(fw.output().stdout)?.[1] ?? 0);
  return { fw, redisPid, port };
}

/** What must hold once it has exited: nothing of it left on the machine or in the data directory. */
async function expectNothingLeft(env: NodeJS.ProcessEnv, redisPid: number, forced = false): Promise<void> {
  const dir = env.FAIRWATCH_DATA_DIR!;
  expect(existsSync(lockPath(dir))).toBe(false);
  expect(existsSync(controlSocketPath(dir))).toBe(false);
  expect(await pollUntil(() => isAlive(redisPid), (a) => !a, 10_000, 50)).toBe(false);
  // a forced exit keeps redis/managed.json (naming a dead pid) so the next start can check for an orphan
  if (!forced) expect(readManagedInfo(dir)).toBeNull();
}

// generous bound on the wait (the product's own deadline is 9 s); the test asserts exit, not speed
const EXIT_WAIT_MS = 30_000;

describe('fairwatch start stops on a signal, loses no event and leaves nothing behind', () => {
  it.each([
    ['SIGINT', 'whole process group', 'Ctrl-C on `npm run up`'],
    ['SIGTERM', 'whole process group', 'systemd stop'],
    ['SIGTERM', 'main process alone', 'kill <pid>'],
  ] as const)('%s to the %s (%s)', async (signal, target, _what) => {
    const group = target === 'whole process group';
    const env = setup();
    const { fw, redisPid, port } = await launch('start', env);
    const load = await proxyLoad({ proxyPort: port, originPort: origin.port, prefix: '/life/', count: 300 });
    expect(load.failed).toBe(0);
    fw.signal(signal, { group });
    const code = await fw.exited(EXIT_WAIT_MS);
    expect(code, fw.output().stderr).toBe(0);
    await expectNothingLeft(env, redisPid);
    // stored by the ingester before it stopped: the proxy flushed into the stream, the ingester drained it
    expect(await storedCount(env)).toEqual({ count: 300, unique: 300 });
  }, 180_000);

  it('a second Ctrl-C stops at once (exit 130), still leaving no lock, socket or redis-server', async () => {
    // a request held by its origin keeps the first, orderly stop busy (the proxy drains it)
    const held: ServerResponse[] = [];
    let arrived = 0;
    const slow = createServer((_req, res) => { arrived++; held.push(res); });
    const slowPort = await new Promise<number>((r) => slow.listen(0, '127.0.0.1', () => r((slow.address() as AddressInfo).port)));
    const env = { ...setup(), FAIRWATCH_LOG_LEVEL: 'info' };
    const { fw, redisPid, port } = await launch('start', env);
    const req = request({ host: '127.0.0.1', port, path: `http://127.0.0.1:${slowPort}/hold` });
    req.on('error', () => {});
    req.end();
    expect(await pollUntil(() => arrived, (a) => a === 1, 20_000, 20)).toBe(1);
    fw.signal('SIGINT', { group: true });
    // signals are not queued: the second must come after the first was taken
    expect(await pollUntil(() => /"msg":"stopping/.test(fw.output().stderr), Boolean, 20_000, 10)).toBe(true);
    fw.signal('SIGINT', { group: true });
    expect(await fw.exited(EXIT_WAIT_MS), fw.output().stderr).toBe(130);
    expect(fw.output().stderr).toMatch(/"why":"second SIGINT".*stopping at once/);
    await expectNothingLeft(env, redisPid, true);
    for (const r of held) r.destroy();
    slow.close();
  }, 180_000);
});

describe('each single role stops on a signal to its process group', () => {
  it('`proxy` then `ingest` (events through the proxy alone are stored by the ingester started after it)', async () => {
    const env = setup();
    const px = await launch('proxy', env);
    const load = await proxyLoad({ proxyPort: px.port, originPort: origin.port, prefix: '/role/', count: 200 });
    expect(load.failed).toBe(0);
    px.fw.signal('SIGINT', { group: true });
    expect(await px.fw.exited(EXIT_WAIT_MS), px.fw.output().stderr).toBe(0);
    await expectNothingLeft(env, px.redisPid);
    // the events wait in the stream (Redis append-only file) for an ingester
    const ing = await launch('ingest', env);
    ing.fw.signal('SIGTERM', { group: true });
    expect(await ing.fw.exited(EXIT_WAIT_MS), ing.fw.output().stderr).toBe(0);
    await expectNothingLeft(env, ing.redisPid);
    expect(await storedCount(env)).toEqual({ count: 200, unique: 200 });
  }, 240_000);

  it.each(['analyser', 'console'] as const)('`%s`: SIGINT to the group, then SIGTERM to it alone', async (role) => {
    const env = setup();
    for (const [signal, group] of [['SIGINT', true], ['SIGTERM', false]] as const) {
      const { fw, redisPid } = await launch(role, env);
      fw.signal(signal, { group });
      expect(await fw.exited(EXIT_WAIT_MS), fw.output().stderr).toBe(0);
      await expectNothingLeft(env, redisPid);
    }
  }, 180_000);
});
