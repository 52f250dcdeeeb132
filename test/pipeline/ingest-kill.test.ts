import { blockOnlyHooks } from '../helpers/block-hooks.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { createStreamSink } from '../../core/events/stream-sink.ts';
import type { Platform } from '../../core/platform.ts';
import { allowAll } from '../../core/policy/types.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import { createProxyServer } from '../../proxy/server.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { DEFAULT_YAML, noDns, pseudonyms, startOrigin, type Origin } from '../proxy/harness.ts';
import { pipelineConfig, waitFor } from './events.ts';
import { proxyLoad } from './load.ts';

// The real `fairwatch ingest` in a child process (embedded ClickHouse in a data directory only it
// holds, Redis from this process), SIGKILLed while it holds a batch it has read but not
// acknowledged; a restarted one must end with every event stored exactly once, which the operator
// checks with `fairwatch events count`.

let platform: Platform;
let cleanup: () => Promise<void>;
let dataDir: string;
let origin: Origin;
const chDir = tempDir('fw-ingest-');
const STREAM = 'k:events';

beforeAll(async () => {
  ({ platform, cleanup, dataDir } = await openTestPlatform({ store: false }));
  origin = await startOrigin();
  writeFileSync(join(chDir.dir, 'fairwatch.yaml'), `pipeline:\n  stream: "${STREAM}"\n  batchRows: 4000\n  batchMs: 400\n  claimIdleSeconds: 1\n`);
});
afterAll(async () => {
  await origin.close();
  await cleanup();
  chDir.cleanup();
});

const ingestEnv = () => ({ FAIRWATCH_DATA_DIR: join(chDir.dir, 'data'), FAIRWATCH_CONFIG: join(chDir.dir, 'fairwatch.yaml'), REDIS_URL: platform.redisUrl });

async function pending(): Promise<number> {
  try {
    return Number(((await platform.redis.xpending(STREAM, 'ingest')) as [number])[0]);
  } catch {
    return 0; // no group yet
  }
}

describe('ingester SIGKILLed mid-batch', () => {
  it('restarted, it claims the dead one\'s entries: exact count, no duplicates (checked with `fairwatch events count`)', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    const config = parseConfig(DEFAULT_YAML, 'test.yaml');
    const sink = createStreamSink({ redis: platform.redisUrl, dataDir, pipeline: pipelineConfig({ stream: STREAM }) });
    const proxy = createProxyServer({ hooks: blockOnlyHooks, config, engine: () => allowAll, sink, credentials: new CredentialStore([], 0), pseudonyms, lookup: noDns });
    const { port } = await proxy.listen(0, '127.0.0.1');

    const first = startCli(['ingest'], { env: ingestEnv() });
    await first.ready;
    let killedWithPending = 0;
    const load = proxyLoad({ proxyPort: port, originPort: origin.port, prefix: '/k/', count: 3000, concurrency: 8 });
    // kill it while it holds entries it read but has not acknowledged
    await waitFor('the ingester to hold a batch', async () => (killedWithPending = await pending()) > 0, 60_000, 5);
    await first.stop('SIGKILL');
    const res = await load;
    await sink.flush();
    expect(killedWithPending).toBeGreaterThan(0);
    expect(res.failed).toBe(0);
    expect(await pending()).toBeGreaterThan(0); // still the dead one's

    const second = startCli(['ingest'], { env: ingestEnv() });
    await second.ready;
    await waitFor('everything acknowledged', async () => {
      const info = (await platform.redis.xinfo('GROUPS', STREAM)) as Array<Array<string | number>>;
      const g = info.find((x) => x[1] === 'ingest')!;
      const o = Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]));
      return Number(o.pending) === 0 && Number(o.lag) === 0;
    }, 150_000, 100);
    expect(await second.stop('SIGTERM')).toBe(0);

    const to = new Date(Date.now() + 60_000).toISOString();
    const count = await runCli(['events', 'count', '--from', from, '--to', to, '--json'], { env: ingestEnv() });
    expect(count.stderr).toBe('');
    expect(count.code).toBe(0);
    const out = JSON.parse(count.stdout) as { count: number; unique: number; duplicates: number };
    expect(out).toMatchObject({ count: 3000, unique: 3000, duplicates: 0 });
    await proxy.close();
    await sink.close();
  }, 240_000);

  it('`fairwatch events count` names a bad time', async () => {
    const bad = await runCli(['events', 'count', '--from', 'yesterday', '--to', '2026-01-01T00:00:00Z'], { env: ingestEnv() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from yesterday: expected an ISO 8601 time');
  });
});
