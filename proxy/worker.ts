import { parentPort } from 'node:worker_threads';
import type { Runtime } from '../core/config/load.ts';
import type { Config } from '../core/config/schema.ts';
import { createStreamSink } from '../core/events/stream-sink.ts';
import { PageTokens } from '../core/identity/page-token.ts';
import { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { loadKey } from '../core/keys.ts';
import { createLogger } from '../core/log.ts';
import { syslogFromConfig } from '../core/siem/forwarder.ts';
import { markThreadsDead } from '../core/events/spool.ts';
import { exposeMetricsTo } from '../core/metrics-http.ts';
import { giveBackWhenIdle } from './idle-memory.ts';
import type { PolicySnapshot } from '../core/policy/engine.ts';
import { policyFromShared, type SharedPolicy } from './shared-policy.ts';
import { PersonStateCache } from '../core/policy/person-state.ts';
import { allowAll, type PolicyEngine } from '../core/policy/types.ts';
import { connectRedis } from '../core/storage/redis.ts';
import { loadCa } from '../core/tls/ca.ts';
import { LeafMinter } from '../core/tls/leaf.ts';
import { CredentialStore, type ChainOptions, type CredentialRecord } from './credentials.ts';
import { LdapAuthenticator } from './authenticators.ts';
import { createProxyServer } from './server.ts';
import { managedClamdSocket } from './managed-clamd.ts';
import { ConsoleUrlSource } from '../core/console-url.ts';
import { SignInGate } from './tls/sign-in-gate.ts';
import { staffHooks } from './tls/staff-hooks.ts';
import { UntrustedCaClients } from './tls/untrusted-ca.ts';
import { listenerCertificate } from './tls/listener-cert.ts';

// One proxy worker thread (threads.ts starts N of them in the proxy's worker process). It never
// opens ClickHouse: user records come from the role process; the compiled policy comes from the
// worker process, built once for all threads (its list table in shared memory); events go to the
// Redis stream through this thread's own sink (disk spool when Redis is away).

/** What a proxy worker starts with: the worker process from the role process, each thread from the worker process. */
export interface ServeInit {
  t: 'init';
  config: Config;
  runtime: Runtime;
  redisUrl: string;
  records: CredentialRecord[];
  port: number;
  /** proxy.tlsPort to serve (0: any free one, for the first), undefined: none; after a restart, the one announced before */
  tlsPort: number | undefined;
  bind: string;
}

export interface ThreadInit extends ServeInit {
  policy: SharedPolicy | null;
  /** threads of this process that exited before this one started: their event journals are adopted */
  deadThreads: number[];
}

export type ToThread = ThreadInit | { t: 'policy'; policy: SharedPolicy } | { t: 'users'; records: CredentialRecord[] } | { t: 'stop' };
export type ThreadMessage = { t: 'ready' } | { t: 'listening'; port: number; tlsPort?: number } | { t: 'listen-error'; code: string; message: string };

const port = parentPort!;
const send = (m: ThreadMessage) => port.postMessage(m);

/** Longest a thread's own shutdown may take (the pool ends it a little later). */
const WORKER_STOP_MS = 4000;

async function start(init: ThreadInit): Promise<void> {
  const { config, runtime } = init;
  const log = createLogger('proxy-worker');
  // this thread's counters are summed into the role process's /metrics
  exposeMetricsTo(port);
  // a burst's grown heap goes back once this thread is quiet again
  giveBackWhenIdle();
  // refused clients and throttled proxy sign-ins go to the SIEM from the worker that saw them
  const siem = syslogFromConfig(config, (msg) => log.warn(msg));
  const pseudonyms = new Pseudonymiser(loadKey(runtime.dataDir, 'pseudonym'));
  const redis = connectRedis(init.redisUrl, log);
  markThreadsDead(init.deadThreads);
  const sink = createStreamSink({ redis: init.redisUrl, dataDir: runtime.dataDir, pipeline: config.pipeline, log });
  // A list directory that cannot be read must not stop browsing: allow until a policy arrives
  // (the worker process said why). A new policy is swapped in with one assignment.
  let snapshot: PolicySnapshot | null = init.policy ? policyFromShared(init.policy) : null;
  const people = new PersonStateCache(redis, { timezone: config.organisation.timezone, onError: (e) => log.warn({ err: e.message }, 'person state') });
  // Redis being away must not keep the proxy from listening: state arrives when it is back
  await Promise.race([people.start(), new Promise((r) => setTimeout(r, 3000).unref())])
    .catch((e: Error) => log.warn({ err: e.message }, 'person state not loaded yet'));
  const engine: PolicyEngine = {
    decide: (input) => (snapshot ? snapshot.decide({ ...input, state: input.user ? people.get(pseudonyms.user(input.user)) : undefined }) : allowAll.decide(input)),
    categoriesOf: (host) => snapshot?.categoriesOf(host) ?? [],
  };
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
  // (the LDAP client is loaded only then: every thread would otherwise carry it)
  const ldap = config.identity.ldap;
  let directory: ChainOptions = {};
  if (ldap) {
    const { LdapDirectory } = await import('../core/identity/ldap-directory.ts');
    directory = { directories: [new LdapAuthenticator(new LdapDirectory(ldap), ldap, (m) => log.warn(m))], outageGraceMs: ldap.outageGraceMinutes * 60_000 };
  }
  const credentials = new CredentialStore(init.records, config.identity.authCacheSeconds * 1000, {}, Date.now, directory);
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
    await siem?.close();
    redis.disconnect();
    process.exit(0);
  };
  onMessage = (m: ToThread) => {
    if (m.t === 'users') credentials.replace(m.records);
    if (m.t === 'policy') snapshot = policyFromShared(m.policy);
    if (m.t === 'stop') void shutdown();
  };
  for (const m of early.splice(0)) onMessage(m);
  let listenPort: number;
  try {
    listenPort = (await proxy.listen(init.port, init.bind, { reusePort: true })).port;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    send({ t: 'listen-error', code: err.code ?? 'ERROR', message: err.message });
    process.exit(3);
  }
  let tlsPort: number | undefined;
  if (tlsCert) {
    try {
      tlsPort = (await proxy.listenTls(tlsCert, init.tlsPort ?? config.proxy.tlsPort, init.bind, { reusePort: true })).port;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EADDRINUSE' ? 'is already in use: set proxy.tlsPort to a free port, or stop the program using it'
        : err.code === 'EACCES' ? 'needs privileges: use a port above 1023' : `cannot be opened (${err.message})`;
      send({ t: 'listen-error', code: 'TLS', message: `proxy.tlsPort ${init.tlsPort ?? config.proxy.tlsPort} on ${init.bind} ${why}` });
      process.exit(3);
    }
  }
  send({ t: 'listening', port: listenPort, tlsPort });
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

// messages that arrive while start() is still setting up wait for it (a reload during a start)
let onMessage: ((m: ToThread) => void) | null = null;
const early: ToThread[] = [];
port.on('message', (m: ToThread) => {
  if (m.t === 'users' || m.t === 'policy' || m.t === 'stop') {
    if (onMessage) onMessage(m);
    else early.push(m);
  } else if (m.t === 'init') {
    start(m).catch((e: Error) => {
      process.stderr.write(`fairwatch proxy worker: ${e.message}\n`);
      send({ t: 'listen-error', code: 'ERROR', message: e.message });
      process.exit(4);
    });
  }
});
// ask for init once this module runs (the pool's policy may have changed since the thread was made)
send({ t: 'ready' });
