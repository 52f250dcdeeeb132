import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MemorySink } from '../../core/events/event.ts';
import { PageTokens } from '../../core/identity/page-token.ts';
import { loadKey } from '../../core/keys.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import { PersonStateCache } from '../../core/policy/person-state.ts';
import type { PolicyEngine } from '../../core/policy/types.ts';
import type { Platform } from '../../core/platform.ts';
import { createCa, spkiSha256, type OrganisationCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { startConsole } from '../../dashboards/role.ts';
import { CredentialStore } from '../../proxy/credentials.ts';
import type { LookupFn } from '../../proxy/resolve.ts';
import { createProxyServer, type ProxyServer } from '../../proxy/server.ts';
import { staffHooks } from '../../proxy/tls/staff-hooks.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// The whole staff-facing path on one machine: local origins (HTTP, and HTTPS with a certificate
// from a separate "public" test CA), the real console on the real platform (managed redis-server,
// embedded ClickHouse), the real proxy with the staff hooks and an organisation CA, and the real
// policy engine over test/pages/fixtures/blocklists. Every socket is on 127.0.0.1.
process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY = '1';

export const PASSWORD = 'a long test password';
export const BIG = randomBytes(256 * 1024);
export const BIG_SHA = createHash('sha256').update(BIG).digest('hex');

function origin(req: IncomingMessage, res: ServerResponse): void {
  const host = (req.headers.host ?? '').split(':')[0]!;
  if (req.url === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
    res.end(BIG);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>${host}</title></head><body><h1>Welcome to ${host}</h1></body></html>`);
}

// Test origins keep Node's default keep-alive timeout (5 s): the proxy's pool lets go of idle origin
// connections first (test/proxy/keepalive.test.ts).
const listen = (s: Server) => new Promise<number>((r) => {
  s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port));
});

/** Every *.test name is 127.0.0.1; anything else is not found (no test reaches real DNS). */
const lookup: LookupFn = (hostname, _o, cb) => {
  if (hostname.endsWith('.test')) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
};

export interface Stack {
  p: Platform;
  dataDir: string;
  consoleUrl: string;
  proxyPort: number;
  httpPort: number;
  httpsPort: number;
  orgCa: OrganisationCa;
  publicCa: OrganisationCa;
  sink: MemorySink;
  /** Chromium flags trusting both test CAs */
  spkiList: string;
  totpSecret: string;
  close(): Promise<void>;
}

export async function startStack(opts: { signInOnly?: boolean; noCa?: boolean } = {}): Promise<Stack> {
  const http = createHttpServer(origin);
  const httpPort = await listen(http);
  const publicCaDir = tempDir();
  const publicCa = createCa(publicCaDir.dir, { organisation: 'Public Test CA' });
  const originLeaf = new LeafMinter(publicCa, 4).leafFor('secure.test');
  const https = createHttpsServer({ key: originLeaf.keyPem, cert: originLeaf.certPem + publicCa.certPem }, origin);
  const httpsPort = await listen(https as unknown as Server);
  const yaml = `
organisation: { name: "Hope <&> Care Trust", contact: the office manager }
console: { port: 0 }
proxy: { port: 0, allowDestinations: [127.0.0.1], ipTunnels: allow, connectPorts: [${httpsPort}] }
identity:
  ipUsers: ${opts.signInOnly ? '{}' : '{ "127.0.0.1": alice }'}
  signInNetworks: [127.0.0.0/8]
  signInHours: 2
policy:
  categoryLabels: { gambling: Gambling sites, audio-video: Video streaming }
  rules:
    - { categories: [gambling], action: block, clause: "Gambling sites are never acceptable." }
    - { categories: [audio-video], action: warn, continueMinutes: 20, clause: "Streaming video should be for work." }
aup: { version: "3" }
`;
  const { platform: p, dataDir, cleanup } = await openTestPlatform({ yaml });
  await p.users.add({ username: 'alice', role: 'staff', group: 'staff', password: PASSWORD });
  await p.users.add({ username: 'bob', role: 'staff', group: 'volunteers', password: PASSWORD });
  const dana = await p.users.add({ username: 'dana', role: 'director', group: 'staff', password: PASSWORD });
  const orgCa = createCa(dataDir, { organisation: p.config.organisation.name });

  const console = await startConsole(p);
  const snapshot = new PolicySnapshot(p.config.policy, p.config.organisation.timezone, await loadLists(join(import.meta.dirname, 'fixtures', 'blocklists')));
  const people = new PersonStateCache(p.redis, { timezone: p.config.organisation.timezone, refreshMs: 200 });
  await people.start();
  // what the proxy role does: the person's Redis-backed state (continues, exceptions) goes into decide
  const engine: PolicyEngine = { decide: (input) => snapshot.decide({ ...input, state: input.user ? people.get(p.pseudonyms.user(input.user)) : undefined }) };
  const records = (await p.users.records()).map((u) => ({ username: u.username, passwordHash: u.passwordHash, group: u.group, disabled: u.disabled }));
  const sink = new MemorySink();
  const tokens = new PageTokens(loadKey(dataDir, 'page-token', {}));
  const proxy: ProxyServer = createProxyServer({
    config: p.config, engine: () => engine, sink, credentials: new CredentialStore(records), pseudonyms: p.pseudonyms, lookup,
    hooks: staffHooks({ config: p.config, redis: p.redis, tokens, pseudonyms: p.pseudonyms, consoleUrl: () => console.url, minter: opts.noCa ? null : new LeafMinter(orgCa) }),
  });
  const proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
  return {
    p, dataDir, consoleUrl: console.url, proxyPort, httpPort, httpsPort, orgCa, publicCa, sink, totpSecret: dana.totpSecret!,
    spkiList: [spkiSha256(orgCa.certPem), spkiSha256(publicCa.certPem)].join(','),
    async close() {
      await proxy.close();
      await people.stop?.();
      await console.stop();
      http.close();
      https.close();
      await cleanup();
      publicCaDir.cleanup();
    },
  };
}
