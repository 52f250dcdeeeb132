import { loadConfig, runtimeFromEnv } from '../../core/config/load.ts';
import { serveMetrics, type MetricsEndpoint } from '../../core/metrics-http.ts';
import { Platform } from '../../core/platform.ts';
import { controlSocketPath } from '../../core/storage/datadir.ts';
import { serveControl } from '../control.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import { runArgv, type ProgramHandle } from '../program.ts';
import { ROLE_ORDER, ROLES, type RoleHandle, type RoleName } from '../roles.ts';

/**
 * Shutdown order: the proxy first (stops accepting, drains open requests and tunnels, flushes its
 * event sink to the stream or spool), then the ingester (inserts what is in the stream), then the
 * console and the analyser; the platform (Redis, ClickHouse) closes last. So no event that a
 * browser's request produced is left in memory.
 */
export const STOP_ORDER: RoleName[] = ['proxy', 'ingest', 'console', 'analyser'];

export function stopOrder<T>(handles: ReadonlyArray<readonly [RoleName, T]>): Array<readonly [RoleName, T]> {
  return [...handles].sort((a, b) => STOP_ORDER.indexOf(a[0]) - STOP_ORDER.indexOf(b[0]));
}

/** Resolves on SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function runRoles(ctx: CommandContext, roleName: string, names: RoleName[]): Promise<number> {
  if (ctx.insidePrimary) throw new CommandFailure(`\`${roleName}\` cannot run through the control socket`);
  const missing = names.filter((n) => !ROLES[n]);
  if (names.length === 1 && missing.length === 1) {
    throw new CommandFailure(`the ${names[0]} role is not built yet in this version of fairwatch`, 2);
  }
  const defs = names.filter((n) => ROLES[n]).map((n) => [n, ROLES[n]!] as const);
  const needs = {
    store: defs.some(([, d]) => d.needs.store) || roleName === 'start',
    redis: defs.some(([, d]) => d.needs.redis) || roleName === 'start',
  };
  const loaded = loadConfig(runtimeFromEnv());
  const socket = controlSocketPath(loaded.runtime.dataDir);
  const platform = await Platform.open({ role: roleName, loaded, ...needs, controlSocket: socket });
  const handles: Array<[RoleName, RoleHandle]> = [];
  let metrics: MetricsEndpoint | null = null;
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const [name, h] of stopOrder(handles.splice(0))) {
      try {
        await h.stop();
      } catch (e) {
        platform.log.warn({ role: name, err: (e as Error).message }, 'role did not stop cleanly');
      }
    }
    await metrics?.close();
    await platform.close();
  };
  try {
    // The owner of an embedded data directory carries out CLI commands for it.
    if (platform.lock) await serveControl(socket, platform, runArgv);
    for (const [name, def] of defs) handles.push([name, await def.start(platform)]);
    const mc = platform.config.metrics;
    if (mc.port !== undefined) metrics = await serveMetrics({ bind: mc.bind, port: mc.port, roles: defs.map(([n]) => n), healthy: () => !stopping });
  } catch (e) {
    await stopAll();
    throw e;
  }
  ctx.io.out(`fairwatch ${roleName} ready (data ${platform.runtime.dataDir}, ClickHouse ${platform.store ? (platform.store.embedded ? 'embedded' : 'server') : 'not used'}, Redis ${platform.managedRedis ? `managed on ${platform.redisUrl}` : platform.redisUrl ? 'external' : 'not used'})\n`);
  for (const [, h] of handles) ctx.io.out(`  ${h.summary}\n`);
  if (metrics) ctx.io.out(`  metrics on ${metrics.url}\n`);
  for (const m of missing) ctx.io.out(`  ${m}: not built yet in this version\n`);
  ctx.io.out('Press Ctrl-C to stop.\n');
  const signal = await untilSignal();
  platform.log.info({ signal }, 'stopping');
  await stopAll();
  return 0;
}

export function registerRoles({ program, act }: ProgramHandle, ctx: CommandContext): void {
  program.command('start')
    .description('all-in-one: proxy + ingester + analyser schedule + console on one data directory (what `npm run up` runs)')
    .action(act(() => runRoles(ctx, 'start', ROLE_ORDER)));
  const describe: Record<RoleName, string> = {
    proxy: 'the forward proxy only (scaled deployments)',
    ingest: 'the event ingester only: Redis stream → ClickHouse',
    analyser: 'the scheduled reports and retention jobs only',
    console: 'the web console only',
  };
  for (const name of ROLE_ORDER) {
    program.command(name).description(describe[name]).action(act(() => runRoles(ctx, name, [name])));
  }
}
