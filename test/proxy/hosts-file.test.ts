import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostsFile } from '../../core/net/hosts-file.ts';
import { HostsSource } from '../../proxy/hosts-source.ts';
import { tempDir } from '../helpers/tmp.ts';
import { rawExchange, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// proxy.hostsFile (Squid's hosts_file): names resolve from the file before DNS. The harness's
// lookup refuses every query, so a name that works here came from the file.

const tmp = tempDir('fw-hosts-');
const file = join(tmp.dir, 'hosts');
let origin: Origin;
let px: TestProxy;

beforeAll(async () => {
  origin = await startOrigin();
  writeFileSync(file, '# office names\n127.0.0.1   intranet.test  wiki.intranet.test\n\n::1 v6.test # loopback v6\n');
  px = await startProxy({ yaml: `proxy:\n  allowDestinations: ["127.0.0.1", "::1"]\n  hostsFile: ${JSON.stringify(file)}\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n` });
});

afterAll(async () => {
  await px.close();
  await origin.close();
  tmp.cleanup();
});

const get = (url: string) => rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe('proxy.hostsFile', () => {
  it('parses addresses, aliases and comments; errors name the file and line', () => {
    const t = parseHostsFile('10.0.0.5 a.test b.test\n# c\n10.0.0.6 A.TEST.\n', 'h');
    expect(t.get('a.test')).toEqual(['10.0.0.5', '10.0.0.6']);
    expect(t.get('b.test')).toEqual(['10.0.0.5']);
    expect(() => parseHostsFile('ok\n', 'h')).toThrow(/^h:1: "ok" is not an IP address/);
    expect(() => parseHostsFile('# x\n10.0.0.1\n', '/etc/x')).toThrow(/^\/etc\/x:2: 10\.0\.0\.1 has no host name/);
    expect(() => parseHostsFile('10.0.0.1 bad/name\n', 'h')).toThrow(/h:1: "bad\/name" is not a host name/);
    expect(() => new HostsSource(join(tmp.dir, 'missing'))).toThrow(/proxy\.hostsFile: cannot read .*missing \(ENOENT\)/);
  });

  it('a listed name reaches its address through the proxy, and the event names the host', async () => {
    const answer = await get(`http://wiki.intranet.test:${origin.port}/small`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const e = await px.find((x) => x.host === 'wiki.intranet.test');
    expect(e).toMatchObject({ status: 200, action: 'allow' });
  });

  it('a name not in the file still goes to DNS (refused here), and the guard checks listed addresses too', async () => {
    expect(await get(`http://other.test:${origin.port}/small`)).toMatch(/^HTTP\/1\.1 502 [\s\S]*could not be found/);
    // the proxy's own port under a listed name is still refused
    expect(await get(`http://intranet.test:${px.port}/`)).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('an edit is picked up; a broken edit keeps the last good table and says why', async () => {
    const messages: string[] = [];
    const src = new HostsSource(file, (m) => messages.push(m), 0);
    writeFileSync(file, '127.0.0.1 moved.test\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(src.lookup('moved.test')).toEqual(['127.0.0.1']);
    expect(src.lookup('intranet.test')).toBeUndefined();
    writeFileSync(file, '127.0.0.1 moved.test\nnot-an-address x.test\n');
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    expect(src.lookup('moved.test')).toEqual(['127.0.0.1']);
    expect(messages).toEqual([expect.stringMatching(/not reloaded, the last good one stays: .*hosts:2: "not-an-address"/)]);
  });
});
