import { availableParallelism } from 'node:os';
import type { RoleDef } from '../core/role.ts';
import { CHANNELS } from '../core/channels.ts';
import type { Platform } from '../core/platform.ts';
import { ProxyCluster } from './cluster.ts';
import { HostsSource } from './hosts-source.ts';
import { consoleUrlWarning } from '../core/console-url.ts';
import type { CredentialRecord } from './credentials.ts';
import { ManagedClamd } from './managed-clamd.ts';
import { LdapDirectory } from '../core/identity/ldap-directory.ts';
import { loadCa } from '../core/tls/ca.ts';
import { LeafMinter } from '../core/tls/leaf.ts';
import { listenerCertificate } from './tls/listener-cert.ts';
import { logRedisErrors } from '../core/storage/redis-errors.ts';

// The 'proxy' role: the primary loads the user directory (the only part that needs ClickHouse),
// forks the workers and keeps their credentials current when CHANNELS.usersChanged fires.

async function credentialRecords(p: Platform): Promise<CredentialRecord[]> {
  return (await p.users.records()).map((u) => ({ username: u.username, passwordHash: u.passwordHash, group: u.group, disabled: u.disabled }));
}

/** Changes whenever a user row is written (add, disable, enable, password). */
async function directoryVersion(p: Platform): Promise<string> {
  const row = await p.store.one<{ n: string; latest: string }>(`SELECT count() AS n, toString(max(updated_at)) AS latest FROM ${p.store.database}.users`);
  return `${row?.n}:${row?.latest}`;
}

export const proxyRole: RoleDef = {
  needs: { store: true, redis: true },
  async start(p) {
    const cfg = p.config;
    const workers = cfg.proxy.workers || availableParallelism();
    // workers link to console.publicUrl, else to the address the console role publishes in Redis
    // a hosts file that cannot be read stops the start here, naming the file and line
    if (cfg.proxy.hostsFile) new HostsSource(cfg.proxy.hostsFile);
    // so does an unreadable identity.ldap.tlsCaFile (the workers build the same directory client)
    if (cfg.identity.ldap) new LdapDirectory(cfg.identity.ldap);
    // so does a TLS listener certificate that cannot be read or minted (each worker makes its own)
    const tls = cfg.proxy.tlsPort !== undefined ? listenerCertificate(cfg, tlsMinter(p.runtime.dataDir, cfg)) : null;
    const warning = consoleUrlWarning(cfg);
    if (warning) p.log.warn(warning);
    // scan.enabled without scan.clamd: a clamd of our own, on a socket in the data directory
    const clamd = cfg.scan.enabled && !cfg.scan.clamd
      ? await ManagedClamd.start(p.runtime.dataDir, { maxMB: cfg.scan.maxMB, databaseDir: cfg.scan.databaseDir, binary: cfg.scan.clamdBinary })
      : null;
    if (clamd) {
      p.log.info({ socket: clamd.socket, pid: clamd.pid }, 'managed clamd started');
      clamd.onEvent = (level, message, fields) => p.log[level](fields, message);
      p.managedClamd = clamd;
    }
    const c = await ProxyCluster.start({
      config: cfg, runtime: p.runtime, redisUrl: p.redisUrl, workers, log: p.log,
      records: await credentialRecords(p),
    });
    let version = '';
    const refresh = async () => {
      try {
        c.setRecords(await credentialRecords(p));
        version = await directoryVersion(p);
      } catch (e) {
        p.log.warn({ err: (e as Error).message }, 'could not reload user records for the proxy');
      }
    };
    const sub = p.redis.duplicate();
    logRedisErrors(sub, p.log, 'user directory subscription');
    sub.on('message', () => void refresh());
    await sub.subscribe(CHANNELS.usersChanged);
    // `users add` and a missed message are picked up by a cheap check of the directory's newest row
    version = await directoryVersion(p).catch(() => '');
    const timer = setInterval(() => {
      void directoryVersion(p).then((v) => (v !== version ? refresh() : undefined), () => undefined);
    }, 3_000);
    timer.unref();
    return {
      summary: `proxy on ${cfg.proxy.bind}:${c.port}${tls ? `, TLS on ${c.tlsPort} (certificate ${tls.describe})` : ''} (${workers} worker${workers === 1 ? '' : 's'}${cfg.scan.enabled ? `, downloads scanned by ${clamd ? 'a managed clamd' : `clamd at ${cfg.scan.clamd}`}` : ''})`,
      async stop() {
        clearInterval(timer);
        sub.disconnect();
        await c.stop();
        await clamd?.stop();
        if (p.managedClamd === clamd) p.managedClamd = null;
      },
    };
  },
};

/** The organisation CA's minter when the TLS listener's certificate is to be minted from it. */
function tlsMinter(dataDir: string, cfg: Platform['config']): LeafMinter | null {
  if (cfg.proxy.tlsCert !== undefined) return null;
  const ca = loadCa(dataDir);
  return ca ? new LeafMinter(ca) : null;
}
