import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../core/storage/clickhouse.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// Inspection through the real `fairwatch start` (a worker thread, Redis stream, ingester, embedded
// ClickHouse): curl fetches an installer over HTTPS from a host in policy.inspect.hosts and gets
// the block page; the stored events say so. The origin is an IP literal so no name is looked up.

const run = promisify(execFile);
const tmp = tempDir('fw-inspect-start-');
const dataDir = join(tmp.dir, 'data');
let server: ReturnType<typeof startCli> | null = null;
let origin: ReturnType<typeof createHttpsServer>;
let originPort = 0;
let proxyPort = 0;

beforeAll(async () => {
  const publicCa = createCa(join(tmp.dir, 'public'), { organisation: 'Public Test CA' });
  const leaf = new LeafMinter(publicCa, 2).leafFor('127.0.0.1');
  origin = createHttpsServer({ key: leaf.keyPem, cert: leaf.certPem + publicCa.certPem }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(Buffer.concat([Buffer.from('MZ'), Buffer.alloc(1000, 1)]));
  });
  originPort = await new Promise<number>((r) => origin.listen(0, '127.0.0.1', () => r((origin.address() as AddressInfo).port)));
  writeFileSync(join(tmp.dir, 'public.pem'), publicCa.certPem);
  createCa(dataDir, { organisation: 'Inspect Test Trust' });
  const cfg = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(cfg, `proxy:\n  workers: 1\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${originPort}]\n  upstreamCaFile: "${join(tmp.dir, 'public.pem')}"\n` +
    'identity:\n  guestNetworks: ["127.0.0.0/8"]\npolicy:\n  inspect: { hosts: [127.0.0.1] }\n');
  server = startCli(['start'], {
    env: {
      FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0',
      FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
    },
    timeoutMs: 90_000,
  });
  await server.ready;
  proxyPort = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(server.output().stdout)?.[1]);
}, 120_000);

afterAll(async () => {
  if (server) await server.stop();
  origin?.close();
  origin?.closeAllConnections();
  tmp.cleanup();
}, 60_000);

describe('inspection under fairwatch start', () => {
  it('an MZ download over HTTPS from an inspected host: block page for curl, block/software-download/executable stored in ClickHouse', async () => {
    const out = join(tmp.dir, 'body');
    const r = await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', `http://127.0.0.1:${proxyPort}`, '--cacert', join(dataDir, 'ca', 'ca.crt'),
      '-o', out, '-w', '%{http_code}', `https://127.0.0.1:${originPort}/tools/update`]);
    expect(r.stdout).toBe('403');
    expect(readFileSync(out, 'utf8')).toContain('Software may not be downloaded');
    // a device without the organisation CA: its first inspected tunnel fails, the next is spliced
    // (the site's own bytes arrive), and doctor counts one device lacking the CA
    const curlFrom = (args: string[]) => run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '--interface', '127.0.0.5', '-x', `http://127.0.0.1:${proxyPort}`,
      '--cacert', join(tmp.dir, 'public.pem'), '-o', out, '-w', '%{http_code}', ...args, `https://127.0.0.1:${originPort}/tools/update`]).then((x) => x.stdout, (e: { code: number }) => `exit ${e.code}`);
    expect(await curlFrom([])).toBe('exit 60');
    expect(await curlFrom([])).toBe('200');
    expect(readFileSync(out).subarray(0, 2).toString()).toBe('MZ');
    const doctor = await runCli(['doctor'], { env: { FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: join(tmp.dir, 'fairwatch.yaml') } });
    expect(doctor.stdout).toMatch(/CA missing on:\s+1 device in the last 7 days/);
    // stop cleanly: every event reaches ClickHouse before the process exits
    expect(await server!.stop()).toBe(0);
    server = null;
    const store = await Store.open({ clickhouseUrl: null, dataDir });
    try {
      const rows = await store.rows<{ method: string; scheme: string; path: string; action: string; rule: string; flags: string[]; content_type: string }>(
        `SELECT method, scheme, path, action, rule, flags, content_type FROM ${store.database}.events WHERE port = ${originPort} ORDER BY ts`);
      const inner = rows.find((x) => x.method === 'GET');
      expect(inner).toMatchObject({ scheme: 'https', path: '/tools/update', action: 'block', rule: 'software-download', content_type: 'application/octet-stream' });
      expect(inner!.flags).toContain('executable');
      const tunnel = rows.find((x) => x.method === 'CONNECT');
      expect(tunnel!.flags).toContain('inspected');
      const refused = rows.filter((x) => x.method === 'CONNECT' && x.flags.includes('ca-untrusted'));
      expect(refused.map((x) => x.flags.includes('inspected'))).toEqual([true, false]);
    } finally {
      await store.close();
    }
  }, 90_000);
});
