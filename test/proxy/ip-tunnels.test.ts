import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { tempDir } from '../helpers/tmp.ts';
import { rawExchange, startHttpsOrigin, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// proxy.ipTunnels: a CONNECT or an http:// URL to a bare IP address (however it is written: the URL
// parser turns 0x7f.1 and 2130706433 into 127.0.0.1, [::ffff:127.0.0.1] into its IPv4 address)
// passes the name-based category lists, so it is refused by default with a page and an event saying
// why; `allow` or a CIDR list lets it through. The same origins by name (proxy.hostsFile) are not
// affected. Real curl, local origins only.

const run = promisify(execFile);
const tmp = tempDir('fw-iptunnels-');
const hostsFile = join(tmp.dir, 'hosts');
let https: Awaited<ReturnType<typeof startHttpsOrigin>>;
let plain: Origin;
let refuse: TestProxy;
let listed: TestProxy;

const yaml = (extra: string) => `proxy:\n  allowDestinations: ["127.0.0.1"]\n  connectPorts: [${https.port}]\n  hostsFile: ${JSON.stringify(hostsFile)}\n${extra}identity:\n  guestNetworks: ["127.0.0.0/8"]\n`;

beforeAll(async () => {
  https = await startHttpsOrigin();
  plain = await startOrigin();
  writeFileSync(join(tmp.dir, 'origin.pem'), https.cert);
  writeFileSync(hostsFile, '127.0.0.1 localhost origin.test\n');
  // the default (no ipTunnels key): refuse
  refuse = await startProxy({ yaml: yaml('') });
  listed = await startProxy({ yaml: yaml('  ipTunnels: ["127.0.0.0/8"]\n') });
});

afterAll(async () => {
  await refuse?.close();
  await listed?.close();
  await https?.close();
  await plain?.close();
  tmp.cleanup();
});

/** curl through the proxy: exit code, the origin's status (or the CONNECT answer's) and body. */
async function curl(px: TestProxy, url: string): Promise<{ code: number; status: number; body: string }> {
  const args = ['-sS', '--max-time', '10', '--proxy', px.url, '--cacert', join(tmp.dir, 'origin.pem'), '-w', '\n%{http_code} %{http_connect}', url];
  try {
    const { stdout } = await run('curl', args);
    return parse(stdout, 0);
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    return parse(err.stdout ?? '', err.code ?? -1);
  }
}

function parse(out: string, code: number): { code: number; status: number; body: string } {
  const i = out.lastIndexOf('\n');
  const [http, connect] = out.slice(i + 1).split(' ').map(Number);
  return { code, status: http || connect || 0, body: out.slice(0, Math.max(i, 0)) };
}

describe('proxy.ipTunnels', () => {
  it("the console at its own address (console.publicUrl with an IP) is fairwatch's page, not a bare-IP site", async () => {
    const own = await startProxy({ yaml: yaml('') + `console:\n  publicUrl: https://127.0.0.1:${https.port}\n` });
    try {
      const tunnel = await curl(own, `https://127.0.0.1:${https.port}/small`);
      expect(tunnel.code).toBe(0);
      expect(tunnel.status).toBe(200);
      // another port of the same address is still a bare-IP site
      const other = await curl(own, `http://127.0.0.1:${plain.port}/small`);
      expect(other.status).toBe(403);
    } finally {
      await own.close();
    }
  });

  it('defaults to refuse, and the config accepts only refuse, allow or CIDRs, naming the key', () => {
    expect(parseConfig('{}', 't.yaml').proxy.ipTunnels).toBe('refuse');
    expect(() => parseConfig('proxy:\n  ipTunnels: sometimes\n', 't.yaml')).toThrow(/proxy\.ipTunnels/);
    expect(() => parseConfig('proxy:\n  ipTunnels: ["10.0.0.0/33"]\n', 't.yaml')).toThrow(/proxy\.ipTunnels/);
  });

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0x7f.1 (hex, short)', '0x7f.1'],
    ['2130706433 (one number)', '2130706433'],
    ['[::ffff:127.0.0.1] (IPv4-mapped)', '[::ffff:127.0.0.1]'],
    ['[::1]', '[::1]'],
  ])('CONNECT to %s is refused by default: 403 with the reason, and a block event', async (_label, host) => {
    const before = refuse.sink.events.length;
    const answer = await rawExchange(refuse.port, `CONNECT ${host}:${https.port} HTTP/1.1\r\nHost: ${host}:${https.port}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/not by a bare IP address/);
    expect(answer).toMatch(/proxy\.ipTunnels/);
    const e = await refuse.find((x) => refuse.sink.events.indexOf(x) >= before && x.method === 'CONNECT');
    expect(e).toMatchObject({ method: 'CONNECT', status: 403, action: 'block', rule: 'proxy.ipTunnels', port: https.port });
    expect(e!.flags).toContain('ip-tunnel');
    // the event names the address as the URL parser normalised it
    expect(['127.0.0.1', '::1', '::ffff:7f00:1']).toContain(e!.host);
  });

  it('curl over HTTPS to a bare address fails at the proxy; the same origin by name (hosts file) works', async () => {
    const byIp = await curl(refuse, `https://127.0.0.1:${https.port}/small`);
    expect(byIp.code).not.toBe(0);
    expect(byIp.status).toBe(403);
    const byName = await curl(refuse, `https://localhost:${https.port}/small`);
    expect(byName.code).toBe(0);
    expect(byName.status).toBe(200);
    const e = await refuse.find((x) => x.host === 'localhost' && x.method === 'CONNECT');
    expect(e).toMatchObject({ action: 'allow' });
    expect(e!.flags).not.toContain('ip-tunnel');
  });

  it('plain http:// to a bare address is refused the same way (odd spellings too); by name it is forwarded', async () => {
    for (const host of ['127.0.0.1', '0x7f.1', '2130706433', '[::ffff:7f00:1]']) {
      const before = refuse.sink.events.length;
      const a = await curl(refuse, `http://${host}:${plain.port}/small`);
      expect(a.status, host).toBe(403);
      expect(a.body, host).toMatch(/not by a bare IP address/);
      const e = await refuse.find((x) => refuse.sink.events.indexOf(x) >= before && x.method === 'GET');
      expect(e, host).toMatchObject({ status: 403, action: 'block', rule: 'proxy.ipTunnels', path: '/small' });
      expect(['127.0.0.1', '::ffff:7f00:1'], host).toContain(e!.host);
      expect(e!.flags).toContain('ip-tunnel');
    }
    const named = await curl(refuse, `http://origin.test:${plain.port}/small`);
    expect(named.status).toBe(200);
  });

  it('a CIDR list lets its addresses through (however written) and refuses the rest', async () => {
    const ok = await curl(listed, `https://127.0.0.1:${https.port}/small`);
    expect(ok.code).toBe(0);
    expect(ok.status).toBe(200);
    const mapped = await rawExchange(listed.port, `CONNECT [::ffff:127.0.0.1]:${https.port} HTTP/1.1\r\n\r\n`, 2000);
    expect(mapped).toMatch(/^HTTP\/1\.1 200 /);
    const outside = await rawExchange(listed.port, `CONNECT [::1]:${https.port} HTTP/1.1\r\n\r\n`);
    expect(outside).toMatch(/^HTTP\/1\.1 403 [\s\S]*not in proxy\.ipTunnels/);
    const e = await listed.find((x) => x.host === '::1' && x.method === 'CONNECT');
    expect(e).toMatchObject({ action: 'block', rule: 'proxy.ipTunnels' });
  });
});
