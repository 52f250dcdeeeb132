import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, managedRedisUrl, readManagedInfo } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';
import { proxyLoad } from '../pipeline/load.ts';
import { startOrigin, type Origin } from '../proxy/harness.ts';

// On `fairwatch start` as `npm run up` runs it: the managed
// redis-server needs its password, and when it is SIGKILLed (OOM killer, operator mistake) with
// requests flowing through the real proxy, it is restarted, the proxy's disk spool drains into it on
// its own, the ingester and the console carry on, and every answered request is stored exactly
// once, all without restarting fairwatch.

const tmp = tempDir('fw-super-');
let origin: Origin;
let fw: ReturnType<typeof startCli>;
let env: NodeJS.ProcessEnv;
let proxyPort = 0;
let metricsUrl = '';
let setupUrl = '';
const dataDir = () => env.FAIRWATCH_DATA_DIR!;

beforeAll(async () => {
  origin = await startOrigin();
  const cfg = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(cfg, 'proxy:\n  workers: 2\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\nmetrics:\n  port: 0\n');
  env = {
    FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0',
    FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
  };
  fw = startCli(['start'], { env, timeoutMs: 120_000 });
  await fw.ready;
  const out = fw.output().stdout;
  proxyPort = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  metricsUrl = /metrics on (\S+)/.exec(out)![1]!;
  // the one-time setup link is written to a 0600 file, not to the output
  setupUrl = /(http:\/\/\S+\/setup\/\S+)/.exec(readFileSync(join(dataDir(), 'setup-link.txt'), 'utf8'))![1]!;
  expect(out).not.toContain(readFileSync(join(dataDir(), 'keys', 'redis-password.key'), 'utf8').trim());
  expect(out).toMatch(/Redis managed on redis:\/\/\*\*\*@127\.0\.0\.1:\d+/);
});
afterAll(async () => {
  if (fw) expect(await fw.stop('SIGTERM')).toBe(0);
  await origin.close();
  tmp.cleanup();
});

async function stored(): Promise<{ count: number; unique: number }> {
  const r = await runCli(['events', 'count', '--from', new Date(Date.now() - 86_400_000).toISOString(), '--to', new Date(Date.now() + 86_400_000).toISOString(), '--json'], { env, timeoutMs: 120_000 });
  const { count, unique } = JSON.parse(r.stdout) as { count: number; unique: number };
  return { count, unique };
}

const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(metricsUrl)).text())?.[1] ?? NaN);

describe('managed redis-server: password', () => {
  it('a client without the password is refused (NOAUTH); with the one in keys/ (0600) it is served', async () => {
    const info = readManagedInfo(dataDir())!;
    // the protocol as any local program would speak it
    const ask = (cmd: string) => new Promise<string>((resolve, reject) => {
      const sock = connect(info.port, '127.0.0.1', () => sock.write(cmd));
      sock.setEncoding('utf8');
      sock.once('data', (d: string) => { sock.destroy(); resolve(d); });
      sock.once('error', reject);
      sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('no answer')); });
    });
    expect(await ask('GET fairwatch:console:url\r\n')).toMatch(/^-NOAUTH/);
    expect(await ask('AUTH guess\r\n')).toMatch(/^-WRONGPASS/);
    const keyFile = join(dataDir(), 'keys', 'redis-password.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir(), 'redis', 'redis.conf')).mode & 0o777).toBe(0o600);
    // never on redis-server's command line, which every local account can read
    expect(readFileSync(`/proc/${info.pid}/cmdline`, 'utf8')).not.toContain(readFileSync(keyFile, 'utf8').trim());
    const authed = new Redis(managedRedisUrl(dataDir())!);
    expect(await authed.ping()).toBe('PONG');
    authed.disconnect();
  });
});

describe('managed redis-server: supervised', () => {
  it('SIGKILLed under load through the proxy: restarted, spool drained, every event stored once, console and doctor say so', async () => {
    const first = readManagedInfo(dataDir())!;
    let killedAt = 0;
    const res = await proxyLoad({
      proxyPort, originPort: origin.port, prefix: '/sup/', count: 600, concurrency: 4,
      onAnswered: async (n) => {
        if (n !== 200) return;
        killedAt = n;
        process.kill(first.pid, 'SIGKILL');
        // go on once it is gone (and before its restart's backoff is over), so events meet no Redis
        await pollUntil(() => isAlive(first.pid), (a) => !a, 10_000, 5);
      },
    });
    expect(killedAt).toBe(200);
    expect(res.failed).toBe(0); // browsing never noticed
    // a new redis-server on the same port, without restarting fairwatch
    const again = await pollUntil(() => readManagedInfo(dataDir()), (i) => i !== null && i.pid !== first.pid && isAlive(i.pid), 30_000, 100);
    expect(again!.port).toBe(first.port);
    expect(isAlive(first.pid)).toBe(false);
    // the spool drains by itself and the ingester stores everything, each once
    const final = await pollUntil(stored, (s) => s.count >= 600, 120_000, 500);
    expect(final).toEqual({ count: 600, unique: 600 });
    // more traffic after the restart flows straight through
    const after = await proxyLoad({ proxyPort, originPort: origin.port, prefix: '/sup2/', count: 100 });
    expect(after.failed).toBe(0);
    expect(await pollUntil(stored, (s) => s.count >= 700, 120_000, 500)).toEqual({ count: 700, unique: 700 });
    // the console reads Redis again (its one-time setup token lives there and survived the restart)
    expect((await fetch(setupUrl)).status).toBe(200);
    // health: metrics and doctor
    expect(await metric('fairwatch_redis_restarts_total')).toBe(1);
    expect(await metric('fairwatch_redis_up')).toBe(1);
    // events met no Redis and went to the spool, and the spool was replayed by itself
    const spooled = await metric('fairwatch_events_spooled_total');
    expect(spooled).toBeGreaterThan(0);
    // a write that timed out while Redis went down may still have been carried out: its spooled
    // copy is found in the stream at replay and skipped, never sent twice (count 600, unique 600 above)
    expect(await metric('fairwatch_events_replayed_total') + await metric('fairwatch_events_replay_skipped_total')).toBe(spooled);
    console.log(`${spooled} events went through the disk spool while redis-server was down`);
    const doctor = await runCli(['doctor'], { env, timeoutMs: 120_000 });
    expect(doctor.stdout).toMatch(/managed redis:\s+Redis restarted 1 time in the last hour \(last exit: SIGKILL at \S+\); up now/);
    expect(doctor.stdout).toMatch(/event spool:\s+empty/);
    expect(doctor.stdout).toMatch(/redis memory:\s+\d+ MB of its 256 MB limit \(\d+%, policy noeviction\)/);
    expect(doctor.stdout).toMatch(/dropped events:\s+none since start/);
    expect(doctor.stdout).toMatch(/storing events:\s+ClickHouse takes inserts/);
    // and the log says what happened
    expect(fw.output().stderr).toMatch(/managed redis-server died: restarting it/);
  }, 300_000);
});
