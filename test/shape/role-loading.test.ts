import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// `fairwatch proxy` loads the proxy's modules and not the console's: roles are imported from
// cli/roles.ts only when they run. Every module the process loads is recorded by a load hook.

const tmp = tempDir('fw-roleload-');
const HOOK = join(import.meta.dirname, '..', 'helpers', 'record-modules.mjs');

afterAll(() => tmp.cleanup());

function loaded(log: string): string[] {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
}

describe('role loading', () => {
  it('fairwatch proxy does not load the console, the analyser or the ingester', async () => {
    const cfg = join(tmp.dir, 'fairwatch.yaml');
    writeFileSync(cfg, 'proxy:\n  workers: 1\n');
    const log = join(tmp.dir, 'modules.log');
    const server = startCli(['proxy'], {
      env: {
        FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0',
        FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
        NODE_OPTIONS: `--import=${HOOK}`, FAIRWATCH_TEST_MODULE_LOG: log,
      },
    });
    try {
      await server.ready;
      expect(server.output().stdout).toMatch(/proxy on 127\.0\.0\.1:\d+/);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const files = loaded(log).map((u) => u.replace(/^.*\/dist\//, 'dist/'));
    // the hook saw the CLI and the proxy role: what it did not see was not loaded
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/proxy/role.js');
    expect(files.filter((f) => /^dist\/(dashboards|analyser)\//.test(f))).toEqual([]);
  });
});
