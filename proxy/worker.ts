import type { Runtime } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import { createStreamSink } from '../core/events/stream-sink.ts';
import { PageTokens } from '../core/identity/page-token.ts';
import { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { loadKey } from '../core/keys.ts';
import { createLogger } from '../core/log.ts';
import { syslogFromConfig } from '../core/siem/forwarder.ts';
import { exposeMetricsToPrimary } from '../core/metrics-http.ts';
import { PolicyHolder } from '../core/policy/holder.ts';
import { PersonStateCache } from '../core/policy/person-state.ts';
import { allowAll, type PolicyEngine } from '../core/policy/types.ts';
import { connectRedis } from '../core/storage/redis.ts';
import { loadCa } from '../core/tls/ca.ts';
import { LeafMinter } from '../core/tls/leaf.ts';
import { CredentialStore, type CredentialRecord } from './credentials.ts';
import { LdapAuthenticator } from './authenticators.ts';
import { LdapDirectory } from '../core/identity/ldap-directory.ts';
import { createProxyServer } from './server.ts';
import { managedClamdSocket } from './managed-clamd.ts';
import { ConsoleUrlSource } from '../core/console-url.ts';
import { SignInGate } from './tls/sign-in-gate.ts';
import { staffHooks } from './tls/staff-hooks.ts';
import { UntrustedCaClients } from './tls/untrusted-ca.ts';
import { listenerCertificate } from './tls/listener-cert.ts';

// One proxy worker process (node:cluster). It never opens ClickHouse: user records come from the
// primary over IPC, the policy is loaded here from the lists and config, events go to the Redis
// stream through this worker's own sink (disk spool when Redis is away).

export interface WorkerInit {
  t: 'init';
  config: Config;
  runtime: Runtime;
  redisUrl: string;
  records: CredentialRecord[];
  port: number;
  bind: string;
}

export type PrimaryMessage = WorkerInit | { t: 'users'; records: CredentialRecord[] } | { t: 'stop' };
export type WorkerMessage = { t: 'ready' } | { t: 'listening'; port: number; tlsPort?: number } | { t: 'listen-error'; code: string; message: string };

const send = (m: WorkerMessage) => process.send?.(m);

/** Longest a worker's own shutdown may take (the primary kills it a little later). */
const WORKER_STOP_MS = 4000;

async function start(init: WorkerInit): Promise<void> {
  const { config, runtime } = init;
  const log = createLogger('proxy-worker');
  // this worker's counters are summed into the primary's /metrics
  exposeMetricsToPrimary();
  // refused clients and throttled proxy sign-ins go to the SIEM from the worker that saw them
  const siem = syslogFromConfig(config, (msg) => log.warn(msg));
  const pseudonyms = new Pseudonymiser(loadKey(runtime.dataDir, 'pseudonym'));
  const redis = connectRedis(init.redisUrl, log);
  const sink = createStreamSink({ redis: init.redisUrl, dataDir: runtime.dataDir, pipeline: config.pipeline, log });
  // A list directory that cannot be read must not stop browsing: allow, record, and say why.
  let holder: PolicyHolder | null = null;
  try {
    holder = await PolicyHolder.open({ config, runtime, log });
    await holder.watch({ redis, signals: false });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'policy not loaded: allowing everything until it loads (fix the lists, then reload)');
  }
  const people = new PersonStateCache(redis, { timezone: config.organisation.timezone, onError: (e) => log.warn({ err: e.message }, 'person state') });
  // Redis being away must not keep the proxy from listening: state arrives when it is back
  await Promise.race([people.start(), new Promise((r) => setTimeout(r, 3000).unref())])
    .catch((e: Error) => log.warn({ err: e.message }, 'person state not loaded yet'));
  const engine: PolicyEngine = holder
    ? {
      decide: (input) => holder.current().decide({ ...input, state: input.user ? people.get(pseudonyms.user(input.user)) : undefined }),
      categoriesOf: (host) => holder.current().categoriesOf(host),
    }
    : allowAll;
  // console.publicUrl, else the address the console role published (console.port 0 is known only then)
  const consoleUrl = new ConsoleUrlSource(config, redis);
  await consoleUrl.start();
  const ca = loadCa(runtime.dataDir);
  const minter = ca ? new LeafMinter(ca) : null;
  const hooks = staffHooks({
    config, redis, pseudonyms,
    tokens: new PageTokens(loadKey(runtime.dataDir, 'page-token')),
    consoleUrl: (proxyAddress) => consoleUrl.current(proxyAddress),
    minter,
  });
  // identity.signInNetworks: bindings written by the console's sign-in page, read from Redis
  const signIn = config.identity.signInNetworks.length > 0
    ? { gate: new SignInGate(redis, pseudonyms, config.identity.signInNetworks), pages: hooks.pages, minter }
    : undefined;
  // proxy.tlsPort: the certificate first, so a bad one stops the start with its reason
  const tlsCert = config.proxy.tlsPort !== undefined ? listenerCertificate(config, minter) : null;
  // identity.ldap: the organisation's directory after the local users (authenticators.ts)
  const ldap = config.identity.ldap;
  const credentials = new CredentialStore(init.records, config.identity.authCacheSeconds * 1000, {}, Date.now, ldap
    ? { directories: [new LdapAuthenticator(new LdapDirectory(ldap), ldap, (m) => log.warn(m))], outageGraceMs: ldap.outageGraceMinutes * 60_000 }
    : {});
  const proxy = createProxyServer({
    config, engine: () => engine, sink, credentials, pseudonyms, hooks, signIn,
    consoleUrl: (proxyAddress) => consoleUrl.current(proxyAddress),
    servicePorts: localServicePorts(init.redisUrl),
    caCertPem: ca?.certPem ?? null,
    clamdSocket: managedClamdSocket(runtime.dataDir),
    log: (message) => log.warn(message),
    // quota minutes are shared by every worker and proxy through Redis; a failure only loses a minute
    recordUse: (user, category, at) => void people.addQuotaUsage(pseudonyms.user(user), category, at)
      .catch((e: Error) => log.warn({ err: e.message }, 'quota minute not counted')),
    // policy.inspect: tunnels opened with the organisation CA (none without one); devices that
    // refuse the CA are shared through Redis so every worker splices them
    inspection: {
      minter,
      untrusted: new UntrustedCaClients({
        minutes: config.proxy.untrustedCaMinutes, pseudonym: (ip) => pseudonyms.client(ip), redis,
        onError: (e) => log.warn({ err: e.message }, 'untrusted-CA record'),
      }),
    },
  });

  logInspection(log, config, minter !== null, holder ? (c) => holder.current().lists.byName.has(c) : () => false, runtime.blocklistsDir);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    // bounded: whatever the sink has not written by then is in its journal, replayed by the next sink
    setTimeout(() => process.exit(0), WORKER_STOP_MS).unref();
    await proxy.close();
    consoleUrl.stop();
    await sink.close();
    await people.stop().catch(() => {});
    await holder?.close();
    await siem?.close();
    redis.disconnect();
    process.exit(0);
  };
  process.on('message', (m: PrimaryMessage) => {
    if (m.t === 'users') credentials.replace(m.records);
    if (m.t === 'stop') void shutdown();
  });
  // Ctrl-C reaches the whole process group: the primary decides when workers stop (it sends
  // 'stop'), so none dies first and gets replaced during shutdown. SIGTERM alone stops cleanly.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void shutdown());
  let port: number;
  try {
    port = (await proxy.listen(init.port, init.bind)).port;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    send({ t: 'listen-error', code: err.code ?? 'ERROR', message: err.message });
    process.exit(3);
  }
  let tlsPort: number | undefined;
  if (tlsCert) {
    try {
      tlsPort = (await proxy.listenTls(tlsCert, config.proxy.tlsPort, init.bind)).port;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EADDRINUSE' ? 'is already in use: set proxy.tlsPort to a free port, or stop the program using it'
        : err.code === 'EACCES' ? 'needs privileges: use a port above 1023' : `cannot be opened (${err.message})`;
      send({ t: 'listen-error', code: 'TLS', message: `proxy.tlsPort ${config.proxy.tlsPort} on ${init.bind} ${why}` });
      process.exit(3);
    }
  }
  send({ t: 'listening', port, tlsPort });
}

/** The Redis port when Redis runs on this machine: never a destination, even with 127.0.0.1 allowed. */
function localServicePorts(redisUrl: string): number[] {
  try {
    const u = new URL(redisUrl);
    return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(u.hostname) ? [Number(u.port) || 6379] : [];
  } catch {
    return [];
  }
}

/** One line at start saying what HTTPS inspection will do, and why not when it cannot. */
function logInspection(log: ReturnType<typeof createLogger>, config: Config, hasCa: boolean, known: (category: string) => boolean, listsDir: string): void {
  const { inspect } = config.policy;
  if (inspect.categories.length === 0 && inspect.hosts.length === 0) return;
  if (!hasCa) {
    log.info('HTTPS inspection (policy.inspect) is off: no organisation CA yet (`fairwatch ca init`, then deploy the certificate)');
    return;
  }
  const missing = inspect.categories.filter((c) => !known(c));
  if (missing.length) log.warn(`policy.inspect.categories: ${missing.join(', ')} not in ${listsDir}; those sites are not inspected until the lists have them (the full UT1 collection does) or policy.inspect.hosts names them`);
}

process.once('message', (m: PrimaryMessage) => {
  if (m.t === 'init') {
    start(m).catch((e: Error) => {
      process.stderr.write(`fairwatch proxy worker: ${e.message}\n`);
      send({ t: 'listen-error', code: 'ERROR', message: e.message });
      process.exit(4);
    });
  }
});
// 'online' comes before this module has run; messages sent then would be lost, so ask for init now
send({ t: 'ready' });
