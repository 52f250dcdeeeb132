import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { configuredConsoleUrl, ConsoleUrlSource, consoleUrlWarning, forProxyAddress } from '../../core/console-url.ts';
import { startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// Block-page links point at the console as it really listens: under `fairwatch start` with
// FAIRWATCH_CONSOLE_PORT=0 the console publishes its bound address and the proxy workers link there
// (they used to link to :0).

const run = promisify(execFile);
const tmp = tempDir('fw-console-link-');
let server: ReturnType<typeof startCli>;
let proxyPort = 0;
let consolePort = 0;

beforeAll(async () => {
  const cfg = join(tmp.dir, 'fairwatch.yaml');
  writeFileSync(cfg, 'proxy:\n  workers: 1\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.2/32"]\n' +
    'policy:\n  rules:\n    - { categories: [gambling], action: block, clause: "Gambling sites are never acceptable." }\n');
  server = startCli(['start'], {
    env: {
      FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0',
      FAIRWATCH_BLOCKLISTS: join(import.meta.dirname, '..', 'fixtures', 'blocklists'), FAIRWATCH_DIAL_LOOPBACK_ONLY: '1',
    },
    timeoutMs: 90_000,
  });
  await server.ready;
  const out = server.output().stdout;
  proxyPort = Number(/proxy on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  consolePort = Number(/console on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
}, 120_000);
afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  tmp.cleanup();
}, 60_000);

describe('console links on block pages', () => {
  it('FAIRWATCH_CONSOLE_PORT=0 under start: the block page links to the console\'s real port', async () => {
    expect(consolePort).toBeGreaterThan(0);
    expect(proxyPort).toBeGreaterThan(0);
    // a guest (127.0.0.2) asks for a fixture-listed gambling site: blocked before any name lookup
    const page = (await run('curl', ['--interface', '127.0.0.2', '-sS', '--max-time', '20', '--noproxy', '', '-x', `http://127.0.0.1:${proxyPort}`, 'http://bet365.com/'])).stdout;
    const links = [...page.matchAll(/href="(http[^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(new URL(link).origin).toBe(`http://127.0.0.1:${consolePort}`);
    // and the link answers: it is the console
    const status = (await run('curl', ['-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}', links[0]!])).stdout;
    expect(Number(status)).toBeLessThan(500);
    expect(Number(status)).toBeGreaterThan(0);
  });

  it('a console on every interface: links use the proxy address the browser used; operators are told to set publicUrl', () => {
    const wild = parseConfig('console:\n  bind: 0.0.0.0\n  port: 8080\n', 'w.yaml');
    expect(consoleUrlWarning(wild)).toMatch(/console\.publicUrl/);
    expect(forProxyAddress(configuredConsoleUrl(wild), '::ffff:192.0.2.10')).toBe('http://192.0.2.10:8080');
    expect(forProxyAddress('http://[::]:8080', 'fd00::1')).toBe('http://[fd00::1]:8080');
    const pub = parseConfig('console:\n  bind: 0.0.0.0\n  publicUrl: https://console.example.org/\n', 'p.yaml');
    expect(consoleUrlWarning(pub)).toBeNull();
    expect(forProxyAddress(configuredConsoleUrl(pub), '192.0.2.10')).toBe('https://console.example.org');
  });

  it('the source asked on every request answers each proxy address with its own link, the same each time', () => {
    const wild = new ConsoleUrlSource(parseConfig('console:\n  bind: 0.0.0.0\n  port: 8080\n', 'w.yaml'), null);
    const asked = ['::ffff:192.0.2.10', '192.0.2.11', '::ffff:192.0.2.10', 'fd00::1', undefined, '192.0.2.11'];
    expect(asked.map((a) => wild.current(a))).toEqual([
      'http://192.0.2.10:8080', 'http://192.0.2.11:8080', 'http://192.0.2.10:8080', 'http://[fd00::1]:8080', 'http://0.0.0.0:8080', 'http://192.0.2.11:8080',
    ]);
    // more local addresses than it remembers: still each one's own link
    for (let i = 0; i < 200; i++) expect(wild.current(`10.0.${i}.1`)).toBe(`http://10.0.${i}.1:8080`);
    const pub = new ConsoleUrlSource(parseConfig('console:\n  bind: 0.0.0.0\n  publicUrl: https://console.example.org/\n', 'p.yaml'), null);
    expect([pub.current('192.0.2.10'), pub.current('192.0.2.10'), pub.current()]).toEqual(['https://console.example.org', 'https://console.example.org', 'https://console.example.org']);
  });
});
