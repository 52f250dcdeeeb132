import { serve, type ServerType } from '@hono/node-server';
import { AlertStore } from '../core/alerts/store.ts';
import { auditLogFor } from '../core/audit/log.ts';
import { policyExceptions } from '../core/authorisation/exceptions.ts';
import { Authorisations } from '../core/authorisation/store.ts';
import { loadKey } from '../core/keys.ts';
import type { Platform } from '../core/platform.ts';
import type { RoleDef } from '../core/role.ts';
import { isWildcard, publishConsoleUrl } from '../core/console-url.ts';
import { createConsoleApp } from './app.ts';
import type { ConsoleDeps } from './deps.ts';
import { smtpNotifier, watchRequests } from './notify.ts';
import { policyTester } from './policy-tester.ts';
import { mountStaffPages } from './staff-pages.ts';
import { LoginLimiter } from './security/login-limit.ts';
import { OidcProviders } from './security/oidc.ts';
import { ExternalAccounts } from '../core/identity/external-accounts.ts';
import { Sessions } from './security/session.ts';
import { issueSetupToken, removeSetupLink, writeSetupLink } from './security/setup-token.ts';

// The 'console' role: builds the app on the platform and listens on console.bind:console.port
// (FAIRWATCH_CONSOLE_PORT; 0 picks a free port). On first run, when no director exists, it writes
// a one-time setup link to <data dir>/setup-link.txt (0600) and says where it is.

/** The address the console listens on, for links in notification mails. */
const advertised = { url: '' };

/** Builds the console's dependencies from an open platform (also used by tests). */
export function consoleDeps(p: Platform, extra: Partial<ConsoleDeps> = {}): ConsoleDeps {
  const now = extra.now ?? Date.now;
  const exceptions = policyExceptions(p.redis);
  return {
    config: p.config,
    log: p.log.child({ part: 'console' }),
    runtime: p.runtime,
    store: p.store,
    redis: p.redis,
    users: p.users,
    pseudonyms: p.pseudonyms,
    reportKey: loadKey(p.runtime.dataDir, 'report-master', p.env),
    dataDir: p.runtime.dataDir,
    audit: auditLogFor(p.store, p.redis),
    authz: new Authorisations(p.store, p.redis, now),
    alerts: new AlertStore(p.store),
    sessions: new Sessions(p.redis, { idleMinutes: p.config.console.sessionIdleMinutes, maxHours: p.config.console.sessionMaxHours }, now),
    limiter: new LoginLimiter(p.redis),
    oidc: new OidcProviders(p.config, p.redis, p.env),
    externalAccounts: new ExternalAccounts(p.store),
    consoleUrl: () => linkable(advertised.url),
    exceptions,
    policyTester: policyTester(p),
    blocklistsDir: p.runtime.blocklistsDir,
    notify: smtpNotifier(p.config, () => p.config.console.publicUrl ?? advertised.url, (err) => p.log.warn({ err }, 'notification mail failed')),
    // TLS is terminated in front of the console (reverse proxy); an https publicUrl says so
    tls: p.config.console.publicUrl?.startsWith('https:') ?? false,
    now,
    managedRedis: p.managedRedis,
    managedClamd: () => p.managedClamd,
    ...extra,
  };
}

/** `url` unless it is empty or its host is a wildcard (0.0.0.0, ::), which no browser can open. */
function linkable(url: string): string | undefined {
  if (!url) return undefined;
  try {
    return isWildcard(new URL(url).hostname.replace(/^\[|\]$/g, '')) ? undefined : url;
  } catch {
    return undefined;
  }
}

/** The console as served: its own routes plus the staff pages (block-page links, AUP, sign-in). */
export function buildConsoleApp(p: Platform, deps: ConsoleDeps): ReturnType<typeof createConsoleApp> {
  const built = createConsoleApp(deps);
  // links on staff pages: console.publicUrl, else the address the console listens on, and only
  // when that is a wildcard bind the Host the browser sent
  mountStaffPages(built.app, p, { ...deps, consoleUrl: deps.consoleUrl ?? (() => linkable(advertised.url)) });
  return built;
}

export async function startConsole(p: Platform, extra: Partial<ConsoleDeps> = {}): Promise<{ url: string; setupUrl: string | null; setupFile: string | null; server: ServerType; stop(): Promise<void> }> {
  const deps = consoleDeps(p, extra);
  const { app } = buildConsoleApp(p, deps);
  const { bind, port } = p.config.console;
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: bind, port }, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://${bind.includes(':') ? `[${bind}]` : bind}:${bound}`;
  const base = p.config.console.publicUrl?.replace(/\/$/, '') ?? url;
  advertised.url = base;
  // the proxy links block pages here (console.port 0 is known only now; see core/console-url.ts)
  await publishConsoleUrl(p.redis, base);
  let setupUrl: string | null = null;
  let setupFile: string | null = null;
  const directors = (await p.users.list()).filter((u) => u.role === 'director' && !u.disabled);
  if (directors.length === 0) {
    setupUrl = `${base}/setup/${await issueSetupToken(p.redis)}`;
    setupFile = writeSetupLink(p.runtime.dataDir, setupUrl);
  } else {
    removeSetupLink(p.runtime.dataDir);
  }
  const stopWatching = await watchRequests(p.redis, deps.notify, deps.log);
  return {
    url, setupUrl, setupFile, server,
    stop: async () => {
      await stopWatching();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}

export const consoleRole: RoleDef = {
  needs: { store: true, redis: true },
  async start(p) {
    const c = await startConsole(p);
    const summary = `console on ${c.url}` + (c.setupFile
      ? `\n  first run: no director yet — a one-time link to create one (valid for an hour) is in\n  ${c.setupFile} (readable by this account only): cat it, then open the link`
      : '');
    return { summary, stop: c.stop };
  },
};
