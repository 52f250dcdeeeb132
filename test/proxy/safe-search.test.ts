import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeSearchHost } from '../../core/policy/safe-search.ts';
import { freePort } from '../../core/storage/redis.ts';
import { hashPassword } from '../../core/identity/users.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startProxy, type TestProxy } from './harness.ts';

// policy.safeSearch through the real proxy: the search engines' ordinary names are resolved to
// their enforced safe-search hosts (proxy.hostsFile stands in for DNS here). Two local "sites" on
// the same port answer with the address they listen on, so each answer says where the proxy went.

const run = promisify(execFile);
const tmp = tempDir('fw-safe-');
let port: number;
const servers: Server[] = [];
let px: TestProxy;

beforeAll(async () => {
  port = await freePort();
  for (const address of ['127.0.0.1', '127.0.0.2']) {
    const s = createServer((req, res) => res.end(`${address} ${req.headers.host}`));
    await new Promise<void>((r) => s.listen(port, address, () => r()));
    servers.push(s);
  }
  const hosts = join(tmp.dir, 'hosts');
  // the ordinary names on one address, the enforced ones on the other
  writeFileSync(hosts, [
    '127.0.0.1 www.google.com www.google.co.uk www.youtube.com www.bing.com duckduckgo.com example.test',
    '127.0.0.2 forcesafesearch.google.com restrict.youtube.com restrictmoderate.youtube.com strict.bing.com safe.duckduckgo.com',
  ].join('\n') + '\n');
  px = await startProxy({
    yaml: `proxy:\n  allowDestinations: ["127.0.0.0/8"]\n  connectPorts: [${port}]\n  hostsFile: ${JSON.stringify(hosts)}\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\npolicy:\n  safeSearch:\n    mode: strict\n    groups: { it: off }\n`,
    records: [{ username: 'ian', passwordHash: await hashPassword('a long password!'), group: 'it', disabled: false }],
  });
});

afterAll(async () => {
  await px.close();
  for (const s of servers) s.close();
  tmp.cleanup();
});

async function via(url: string, opts: { tunnel?: boolean; user?: string } = {}): Promise<string> {
  const args = ['-s', '--max-time', '10', '-x', px.url, ...(opts.tunnel ? ['--proxytunnel'] : []), ...(opts.user ? ['-U', opts.user] : []), url];
  return (await run('curl', args)).stdout;
}

describe('policy.safeSearch', () => {
  it('maps each engine to its documented enforced host, by mode', () => {
    expect(safeSearchHost('www.google.com', 'strict')).toBe('forcesafesearch.google.com');
    expect(safeSearchHost('www.google.co.uk', 'moderate')).toBe('forcesafesearch.google.com');
    expect(safeSearchHost('www.youtube.com', 'strict')).toBe('restrict.youtube.com');
    expect(safeSearchHost('www.youtube.com', 'moderate')).toBe('restrictmoderate.youtube.com');
    expect(safeSearchHost('www.bing.com', 'strict')).toBe('strict.bing.com');
    expect(safeSearchHost('duckduckgo.com', 'strict')).toBe('safe.duckduckgo.com');
    expect(safeSearchHost('www.google.com', 'off')).toBeNull();
    expect(safeSearchHost('google.evil.example', 'strict')).toBeNull();
    expect(safeSearchHost('notgoogle.com', 'strict')).toBeNull();
  });

  it('plain HTTP and HTTPS tunnels to the engines reach the enforced address; the Host and the event keep the name', async () => {
    for (const host of ['www.google.com', 'www.google.co.uk', 'www.youtube.com', 'www.bing.com', 'duckduckgo.com']) {
      expect(await via(`http://${host}:${port}/search?q=x`)).toBe(`127.0.0.2 ${host}:${port}`);
      expect(await via(`http://${host}:${port}/`, { tunnel: true })).toBe(`127.0.0.2 ${host}:${port}`);
    }
    const e = await px.find((x) => x.host === 'www.bing.com' && x.method === 'CONNECT');
    expect(e?.flags).toContain('safe-search');
  });

  it('other sites are untouched, and a group set to off goes to the ordinary address', async () => {
    expect(await via(`http://example.test:${port}/`)).toBe(`127.0.0.1 example.test:${port}`);
    expect(await via(`http://www.google.com:${port}/`, { user: 'ian:a long password!' })).toBe(`127.0.0.1 www.google.com:${port}`);
    const e = await px.find((x) => x.host === 'example.test');
    expect(e?.flags).not.toContain('safe-search');
  });
});

describe('the transparency page says so', () => {
  it('names the mode and the groups it differs for, and that nothing is opened', async () => {
    const { parseConfig } = await import('../../core/config/load.ts');
    const { transparencyPage } = await import('../../core/pages/transparency.ts');
    const { siteFromConfig } = await import('../../core/pages/site.ts');
    const cfg = parseConfig('policy:\n  safeSearch:\n    mode: strict\n    groups: { it: off }\n', 't.yaml');
    const page = transparencyPage(siteFromConfig(cfg, 'https://fw.example.org'), cfg).html;
    expect(page).toContain('Safe search is enforced (strict) on Google, Bing, DuckDuckGo and YouTube, except: it not enforced');
    const off = parseConfig('', 't.yaml');
    expect(transparencyPage(siteFromConfig(off, 'https://fw.example.org'), off).html).not.toContain('Safe search');
  });
});
