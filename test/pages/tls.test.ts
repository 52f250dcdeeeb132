import { X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { caCertPath, caKeyPath, createCa, loadCa, spkiSha256 } from '../../core/tls/ca.ts';
import { LeafMinter, validLeafHost } from '../../core/tls/leaf.ts';
import { serveBlockOverTls } from '../../proxy/tls/intercept.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A TLS handshake with node's own verifier, trusting only `caPem`, for `servername`. */
function handshake(port: number, servername: string, caPem: string, request = ''): Promise<{ authorized: boolean; error?: string; cert?: string; body: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: [caPem], rejectUnauthorized: false }, () => {
      const peer = s.getPeerX509Certificate();
      const res = { authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : undefined, cert: peer?.subject, body: '' };
      if (!request) {
        s.end();
        resolve(res);
        return;
      }
      s.write(request);
      s.on('data', (d) => { res.body += d; });
      s.on('end', () => resolve(res));
      s.on('close', () => resolve(res));
    });
    s.on('error', (e) => resolve({ authorized: false, error: e.message, body: '' }));
    s.setTimeout(10_000, () => s.destroy());
  });
}

describe('organisation CA and leaf certificates', () => {
  const dir = tempDir().dir;
  const ca = createCa(dir, { organisation: 'Test & Trust é' });

  it('the CA key is 0600 in the data directory and the CA is a CA', () => {
    expect(statSync(caKeyPath(dir)).mode & 0o777).toBe(0o600);
    const x = new X509Certificate(ca.certPem);
    expect(x.ca).toBe(true);
    expect(x.subject).toContain('O=Test & Trust é');
    expect(loadCa(dir)!.certPem).toBe(ca.certPem);
    expect(() => createCa(dir, { organisation: 'again' })).toThrow(/already exists/);
    expect(spkiSha256(ca.certPem)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('leaves verify against the CA with node tls, for names and addresses, and are cached', async () => {
    const minter = new LeafMinter(loadCa(dir)!, 3);
    const srv: Server = createServer((sock) => {
      // in the proxy the host comes from the CONNECT line; this server stands for one blocked host
      const host = 'blocked.test';
      serveBlockOverTls(sock, undefined, { host, minter, handler: (req, res) => { res.writeHead(403, { 'content-type': 'text/html' }); res.end(`<h1>blocked ${req.url}</h1>`); } });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const ok = await handshake(port, 'blocked.test', ca.certPem, 'GET /x HTTP/1.1\r\nHost: blocked.test\r\nConnection: close\r\n\r\n');
      expect(ok.error).toBeUndefined();
      expect(ok.authorized).toBe(true);
      expect(ok.cert).toContain('CN=blocked.test');
      expect(ok.body).toMatch(/^HTTP\/1\.1 403/);
      expect(ok.body).toContain('<h1>blocked /x</h1>');
      // a client that trusts another CA refuses it
      const other = createCa(tempDir().dir, { organisation: 'Other' });
      const refused = await handshake(port, 'blocked.test', other.certPem);
      expect(refused.authorized).toBe(false);
      // the certificate is for the CONNECT host only: another name does not verify
      const wrongName = await handshake(port, 'other.test', ca.certPem);
      expect(wrongName.error).toMatch(/Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|altnames/i);
    } finally {
      srv.close();
    }
    // IP hosts get an IP SAN; the LRU keeps at most 3
    const ipLeaf = new X509Certificate(minter.leafFor('192.0.2.7').certPem);
    expect(ipLeaf.subjectAltName).toBe('IP Address:192.0.2.7');
    expect(ipLeaf.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(ipLeaf.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    const before = minter.minted;
    minter.leafFor('BLOCKED.test');
    expect(minter.minted).toBe(before);
    for (const h of ['a.test', 'b.test', 'c.test']) minter.leafFor(h);
    expect(minter.size).toBe(3);
    minter.leafFor('blocked.test');
    expect(minter.minted).toBe(before + 4);
  });

  it('refuses names that are not host names', () => {
    for (const bad of ['', 'a b', 'x/y', '<script>', 'a'.repeat(300)]) expect(validLeafHost(bad)).toBe(false);
    for (const good of ['example.org', 'xn--bcher-kva.example', '10.0.0.1', '::1', 'host-1.test.']) expect(validLeafHost(good)).toBe(true);
    const minter = new LeafMinter(ca, 2);
    expect(() => minter.leafFor('<script>')).toThrow(/not a host name/);
  });
});

describe('fairwatch ca init / show', () => {
  const env = { FAIRWATCH_DATA_DIR: tmp.dir + '/data', FAIRWATCH_CONFIG: '' };
  it('creates the CA once, shows it, and refuses a second init without --force', async () => {
    const none = await runCli(['ca', 'show'], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no organisation CA yet: run `fairwatch ca init`/);
    const init = await runCli(['ca', 'init'], { env });
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/created organisation CA for "Our organisation"/);
    expect(statSync(caKeyPath(env.FAIRWATCH_DATA_DIR)).mode & 0o777).toBe(0o600);
    const spki = spkiSha256(loadCa(env.FAIRWATCH_DATA_DIR)!.certPem);
    expect(init.stdout).toContain(`spki-sha256: ${spki}`);
    const again = await runCli(['ca', 'init'], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists at .*ca\.key/);
    const show = await runCli(['ca', 'show'], { env });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(caCertPath(env.FAIRWATCH_DATA_DIR));
    expect(show.stdout).toContain(spki);
    const forced = await runCli(['ca', 'init', '--force'], { env });
    expect(forced.code).toBe(0);
    expect(spkiSha256(loadCa(env.FAIRWATCH_DATA_DIR)!.certPem)).not.toBe(spki);
  });
});
