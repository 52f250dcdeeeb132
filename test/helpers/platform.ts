import { parseConfig, type LoadedConfig } from '../../core/config/load.ts';
import { Platform } from '../../core/platform.ts';
import { tempDir } from './tmp.ts';

/**
 * A real platform for a test file: managed redis-server and the embedded ClickHouse engine on a
 * fresh data directory. The engine allows one data directory per process, and vitest runs each
 * test file in its own process, so open at most one of these at a time per file.
 */
export async function openTestPlatform(opts: { yaml?: string; store?: boolean; redis?: boolean; dataDir?: string; role?: string } = {}): Promise<{ platform: Platform; dataDir: string; cleanup: () => Promise<void> }> {
  const tmp = opts.dataDir ? { dir: opts.dataDir, cleanup: () => {} } : tempDir();
  const loaded: LoadedConfig = {
    config: parseConfig(opts.yaml ?? '', 'test.yaml'),
    runtime: { dataDir: tmp.dir, configPath: null, blocklistsDir: 'test/fixtures/blocklists', clickhouseUrl: null, redisUrl: null },
  };
  const platform = await Platform.open({ role: opts.role ?? 'test', loaded, store: opts.store ?? true, redis: opts.redis ?? true, env: {} });
  return {
    platform,
    dataDir: tmp.dir,
    cleanup: async () => {
      await platform.close();
      tmp.cleanup();
    },
  };
}
