import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../core/storage/redis.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { loadCa } from '../../core/tls/ca.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// proxy.tlsPort under `fairwatch start`: two proxy workers each open the TLS listener (one shared
// port), the certificate minted from the organisation CA; the console's PAC file offers it first;
// a key that is not the certificate's stops the start with a line naming the key.

const run = promisify(execFile);
const tmp = tempDir('fw-tls-start-');
const dataDir = join(tmp.dir, 'data');
const cfg = join(tmp.dir, 'fairwatch.yaml');
let server: ReturnType<typeof startCli>;
let proxyPort = 0;
let tlsPort = 0;
let consolePort = 0;

const env = (config = cfg) => ({
  FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: config, FAIRWATCH_PROXY_PORT: String(proxyPort), FAIRWATCH_CONSOLE_PORT: String(consolePort),
  FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
});

beforeAll(async () => {
  proxyPort = await freePort();
  tlsPort = await freePort();
  consolePort = await freePort();
  writeFileSync(cfg, `proxy:\n  workers: 2\n  tlsPort: ${tlsPort}\n  tlsNames: [127.0.0.1]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n` +
    'policy:\n  rules:\n    - { categories: [gambling], action: block, clause: "Gambling sites are never acceptable." }\n');
  expect((await runCli(['ca', 'init'], { env: env() })).code).toBe(0);
  writeFileSync(join(tmp.dir, 'ca.pem'), loadCa(dataDir)!.certPem);
  server = startCli(['start'], { env: env(), timeoutMs: 90_000 });
  await server.ready;
}, 120_000);
afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  tmp.cleanup();
}, 60_000);

const curl = async (args: string[]) => {
  try {
    return (await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', ...args])).stdout;
  } catch (e) {
    return `curl failed: ${(e as { stderr?: string }).stderr}`;
  }
};

describe('proxy.tlsPort under fairwatch start', () => {
  it('says where it listens and with which certificate; each worker serves the TLS port', async () => {
    expect(server.output().stdout).toMatch(new RegExp(`TLS on ${tlsPort} \\(certificate minted from the organisation CA for 127\\.0\\.0\\.1\\)`));
    // several connections, so both workers (round-robin accept) answer on it
    for (let i = 0; i < 4; i++) {
      const page = await curl(['--proxy', `https://127.0.0.1:${tlsPort}`, '--proxy-cacert', join(tmp.dir, 'ca.pem'), 'http://bet365.com/']);
      expect(page).toMatch(/Gambling sites are never acceptable/);
    }
    const own = await curl(['--proxy', `https://127.0.0.1:${tlsPort}`, '--proxy-cacert', join(tmp.dir, 'ca.pem'), '-o', '/dev/null', '-w', '%{http_code}', 'http://fairwatch.internal/']);
    expect(own).toBe('200');
  });

  it("the console's PAC file offers the HTTPS proxy first, the plain one after", async () => {
    const pac = await curl([`http://127.0.0.1:${consolePort}/proxy.pac`]);
    expect(pac).toContain(`"HTTPS 127.0.0.1:${tlsPort}"`);
    expect(pac).toContain(`"PROXY 127.0.0.1:${proxyPort}"`);
    expect(pac).toMatch(/secure\.concat\(proxies\)/);
  });

  it('a key that is not the certificate\'s: the start fails with one line naming proxy.tlsKey and the file', async () => {
    const ca = loadCa(dataDir)!;
    writeFileSync(join(tmp.dir, 'cert.pem'), new LeafMinter(ca).forNames(['127.0.0.1'], 2).certPem);
    writeFileSync(join(tmp.dir, 'other.key'), new LeafMinter(ca).forNames(['127.0.0.1'], 2).keyPem);
    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, `proxy:\n  tlsPort: ${await freePort()}\n  tlsCert: ${join(tmp.dir, 'cert.pem')}\n  tlsKey: ${join(tmp.dir, 'other.key')}\n`);
    // its own data directory: the running product holds the first one
    const r = await runCli(['proxy'], { env: { ...env(bad), FAIRWATCH_DATA_DIR: join(tmp.dir, 'data2'), FAIRWATCH_PROXY_PORT: String(await freePort()) }, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/proxy\.tlsKey: .*other\.key is not the key of the certificate in proxy\.tlsCert/);
  }, 90_000);
});
