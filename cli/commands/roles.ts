import { loadConfig, runtimeFromEnv } from '../../core/config/load.ts';
import { serveMetrics, type MetricsEndpoint } from '../../core/metrics-http.ts';
import { Platform } from '../../core/platform.ts';
import { controlSocketPath } from '../../core/storage/datadir.ts';
import { redactRedisUrl } from '../../core/storage/redis.ts';
import { serveControl } from '../control.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import { runArgv, type ProgramHandle } from '../program.ts';
import { loadRole, ROLE_ORDER, type RoleDef, type RoleHandle, type RoleName } from '../roles.ts';

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

/**
 * Ctrl-C on a terminal (SIGINT) and systemd's stop (SIGTERM) reach the whole process group; a
 * SIGTERM may also come to this process alone. The first one starts an orderly stop; a second one,
 * or the stop overrunning its deadline, exits at once (the proxy workers' journals and the Redis
 * append-only file keep what was in flight; the lock file and control socket are removed on exit).
 */
export const STOP_DEADLINE_MS = 9000;
/** The roles' share of the deadline: the platform (ClickHouse, then Redis) closes in what is left. */
const ROLES_SHARE_MS = 6000;

function untilSignal(onSecond: (s: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | null = null;
    const on = (s: NodeJS.Signals) => {
      if (first) return onSecond(s);
      first = s;
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** `p`, or 'late' after `ms`. */
async function bounded(p: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), Math.max(0, ms)); });
  try {
    return await Promise.race([p.then(() => 'done' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function runRoles(ctx: CommandContext, roleName: string, names: readonly RoleName[]): Promise<number> {
  if (ctx.insidePrimary) throw new CommandFailure(`\`${roleName}\` cannot run through the control socket`);
  const defs = await Promise.all(names.map(async (n) => [n, await loadRole(n)] as const));
  const needs = {
    store: defs.some(([, d]) => d.needs.store) || roleName === 'start',
    redis: defs.some(([, d]) => d.needs.redis) || roleName === 'start',
  };
  const loaded = loadConfig(runtimeFromEnv());
  const socket = controlSocketPath(loaded.runtime.dataDir);
  // listening from the start: a signal during start-up stops fairwatch once it is up (a second one at once)
  let platform: Platform | null = null;
  const force = (why: string, code: number) => {
    if (platform) platform.log.error({ why }, 'stopping at once');
    else process.stderr.write(`fairwatch: ${why}: stopping at once\n`);
    // exit hooks stop the managed redis-server and remove the lock file and control socket
    process.exit(code);
  };
  const signalled = untilSignal((s) => force(`second ${s}`, 130));
  platform = await Platform.open({ role: roleName, loaded, ...needs, controlSocket: socket });
  return runOpened(ctx, roleName, platform, defs, socket, signalled, force);
}

async function runOpened(ctx: CommandContext, roleName: string, platform: Platform, defs: ReadonlyArray<readonly [RoleName, RoleDef]>, socket: string,
  signalled: Promise<NodeJS.Signals>, force: (why: string, code: number) => void): Promise<number> {
  const handles: Array<[RoleName, RoleHandle]> = [];
  let metrics: MetricsEndpoint | null = null;
  let stopping = false;
  const stopAll = async (deadline = Date.now() + STOP_DEADLINE_MS) => {
    stopping = true;
    const rolesUntil = Math.min(deadline, Date.now() + ROLES_SHARE_MS);
    for (const [name, h] of stopOrder(handles.splice(0))) {
      try {
        if ((await bounded(h.stop(), rolesUntil - Date.now())) === 'late') {
          platform.log.warn({ role: name }, 'role did not stop in time: going on with the shutdown');
        }
      } catch (e) {
        platform.log.warn({ role: name, err: (e as Error).message }, 'role did not stop cleanly');
      }
    }
    await bounded(metrics?.close() ?? Promise.resolve(), 1000);
    await platform.close(Math.max(1000, deadline - Date.now()));
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
  ctx.io.out(`fairwatch ${roleName} ready (data ${platform.runtime.dataDir}, ClickHouse ${platform.store ? (platform.store.embedded ? 'embedded' : 'server') : 'not used'}, Redis ${platform.managedRedis ? `managed on ${redactRedisUrl(platform.redisUrl)}` : platform.redisUrl ? 'external' : 'not used'})\n`);
  for (const [, h] of handles) ctx.io.out(`  ${h.summary}\n`);
  if (metrics) ctx.io.out(`  metrics on ${metrics.url}\n`);
  ctx.io.out('Press Ctrl-C to stop.\n');
  const signal = await signalled;
  platform.log.info({ signal }, 'stopping (a second Ctrl-C stops at once)');
  const overrun = setTimeout(() => force(`not stopped within ${STOP_DEADLINE_MS / 1000} s`, 1), STOP_DEADLINE_MS + 500);
  await stopAll();
  clearTimeout(overrun);
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
