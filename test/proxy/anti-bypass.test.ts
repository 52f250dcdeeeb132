import { createServer as createNetServer, connect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClientHello } from '../../core/net/client-hello.ts';
import { registrableDomain } from '../../core/net/registrable-domain.ts';
import type { PolicyEngine } from '../../core/policy/types.ts';
import { fakeDns, startEcho, startHttpsOrigin, startProxy, type TestProxy } from './harness.ts';

// Anti-bypass on TLS ports without terminating TLS: the proxy reads the ClientHello in the tunnel.
// A server name of another site than the CONNECT host (domain fronting), a name the policy blocks,
// or bytes that are not TLS close the tunnel, and the event says why. Real TLS clients, local
// origins, names mapped to 127.0.0.1 by the harness's lookup.

let https: Awaited<ReturnType<typeof startHttpsOrigin>>;
let echo: Awaited<ReturnType<typeof startEcho>>;
let px: TestProxy;
const dns = fakeDns({ 'www.example.org': '127.0.0.1', 'cdn.example.org': '127.0.0.1', 'bad.example.org': '127.0.0.1', 'allowed.test': '127.0.0.1' });
// the site's policy: one name of example.org is blocked
const engine: PolicyEngine = {
  decide: (i) => (i.host === 'bad.example.org' ? { action: 'block', category: 'adult', rule: 'rule:never', reason: 'no' } : { action: 'allow', category: '', rule: 'default', reason: '' }),
};

beforeAll(async () => {
  https = await startHttpsOrigin();
  echo = await startEcho();
  px = await startProxy({
    yaml: `proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n  connectPorts: [${https.port}, ${echo.port}]\n  tlsPorts: [${https.port}]\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n`,
    lookup: dns, engine: () => engine,
  });
});

afterAll(async () => {
  await px.close();
  await https.close();
  await echo.close();
});

/** CONNECT through the proxy; resolves with the raw socket once the proxy said 200. */
function tunnel(authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(px.port, '127.0.0.1', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (buf.startsWith('HTTP/1.1 200')) resolve(s);
      else reject(new Error(buf));
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

/** TLS with `servername` inside a tunnel to `authority`: the HTTP status the site answers, or the failure. */
async function fetchVia(authority: string, servername: string): Promise<string> {
  const raw = await tunnel(authority);
  return new Promise((resolve) => {
    const t = tlsConnect({ socket: raw, servername, rejectUnauthorized: false }, () => t.write(`GET /small HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`));
    let out = '';
    t.on('data', (d) => { out += d.toString('latin1'); });
    t.on('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    t.on('close', () => resolve(out.split('\r\n')[0] || 'closed'));
    setTimeout(() => { t.destroy(); resolve('timeout'); }, 5000).unref();
  });
}

describe('ClientHello reading (pure)', () => {
  it('finds the server name in a real ClientHello, says not-tls for other bytes, incomplete for a part', async () => {
    const first = await new Promise<Buffer>((resolve) => {
      const server = createNetServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); server.close(); }));
      server.listen(0, '127.0.0.1', () => {
        const t = tlsConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername: 'Mail.Example.Org', rejectUnauthorized: false });
        t.on('error', () => {});
      });
    });
    expect(readClientHello(first)).toEqual({ kind: 'tls', serverName: 'mail.example.org' });
    expect(readClientHello(first.subarray(0, 40))).toEqual({ kind: 'incomplete' });
    expect(readClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'not-tls' });
    expect(readClientHello(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1]))).toEqual({ kind: 'not-tls' });
    // truncated or garbage lengths never throw
    for (let n = 0; n < first.length; n += 7) expect(() => readClientHello(Buffer.concat([first.subarray(0, n), Buffer.alloc(3, 0xff)]))).not.toThrow();
  });

  it('registrable domains', () => {
    expect(registrableDomain('www.example.co.uk')).toBe('example.co.uk');
    expect(registrableDomain('a.b.example.org')).toBe('example.org');
    expect(registrableDomain('example.org')).toBe('example.org');
  });
});

describe('anti-bypass in tunnels to TLS ports', () => {
  it('the same name, or another name of the same site, passes untouched', async () => {
    expect(await fetchVia(`www.example.org:${https.port}`, 'www.example.org')).toBe('HTTP/1.1 200 OK');
    expect(await fetchVia(`www.example.org:${https.port}`, 'cdn.example.org')).toBe('HTTP/1.1 200 OK');
  });

  it('domain fronting: an allowed CONNECT host carrying another site\'s name is closed, recorded as sni-mismatch', async () => {
    expect(await fetchVia(`allowed.test:${https.port}`, 'www.example.org')).toMatch(/^(error|closed)/);
    const e = await px.find((x) => x.host === 'allowed.test' && x.rule === 'sni-mismatch');
    expect(e).toMatchObject({ action: 'block', method: 'CONNECT' });
    expect(e!.flags).toEqual(expect.arrayContaining(['sni-mismatch', 'sni:www.example.org']));
  });

  it('a name of the same site that the policy blocks is closed with the blocking rule', async () => {
    expect(await fetchVia(`www.example.org:${https.port}`, 'bad.example.org')).toMatch(/^(error|closed)/);
    const e = await px.find((x) => x.host === 'www.example.org' && x.rule === 'rule:never');
    expect(e!.flags).toContain('sni-blocked');
  });

  it('bytes that are not TLS on a TLS port close the tunnel; on another allowed port they pass', async () => {
    const s = await tunnel(`www.example.org:${https.port}`);
    const closed = await new Promise<string>((resolve) => {
      let out = '';
      s.on('data', (d) => { out += d.toString(); });
      s.on('close', () => resolve(out));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    expect(closed).toBe('');
    expect((await px.find((x) => x.rule === 'not-tls'))!.flags).toContain('not-tls');
    const e = await tunnel(`www.example.org:${echo.port}`);
    const back = await new Promise<string>((resolve) => { e.once('data', (d) => { resolve(d.toString()); e.destroy(); }); e.write('plain bytes'); });
    expect(back).toBe('plain bytes');
  });
});
