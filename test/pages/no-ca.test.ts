import { createHash } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAupAcceptance } from '../../core/identity/aup.ts';
import { BIG_SHA, startStack, type Stack } from './stack.ts';

// The proxy's staff answers without an organisation CA, and what raw clients (not browsers) can
// send: the contract's 403 short page for a blocked CONNECT, allowed tunnels byte for byte, and no
// markup from a request line ever reaching a page.

let s: Stack;
beforeAll(async () => {
  s = await startStack({ noCa: true });
});
afterAll(async () => s?.close());

/** Sends raw bytes to the proxy and returns everything it answers until it closes or goes quiet. */
function raw(text: string, quietMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(s.proxyPort, '127.0.0.1');
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const done = () => { sock.destroy(); resolve(out); };
    sock.on('data', (d) => { out += d; clearTimeout(timer); timer = setTimeout(done, quietMs); });
    sock.on('end', () => { clearTimeout(timer); resolve(out); });
    sock.on('error', reject);
    sock.on('connect', () => sock.write(text));
    setTimeout(done, 15_000);
  });
}

describe('without an organisation CA', () => {
  it('a person who has not accepted the statement gets a 403 naming the AUP link on CONNECT', async () => {
    const r = await raw(`CONNECT secure.test:${s.httpsPort} HTTP/1.1\r\nHost: secure.test\r\n\r\n`);
    expect(r).toMatch(/^HTTP\/1\.1 403/);
    expect(r).toContain(`${s.consoleUrl}/aup?t=`);
    // the event is written when the connection ends
    for (let i = 0; i < 50 && !s.sink.events.some((e) => e.host === 'secure.test'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(s.sink.events.find((e) => e.host === 'secure.test')).toMatchObject({ action: 'aup', status: 403 });
  });

  it('a blocked CONNECT is answered 403 with a short page; an allowed one is spliced untouched', async () => {
    await recordAupAcceptance(s.p.store, s.p.redis, { userPseudonym: s.p.pseudonyms.user('alice'), version: '3', clientPseudonym: 'c' });
    const blocked = await raw(`CONNECT bet.test:${s.httpsPort} HTTP/1.1\r\nHost: bet.test\r\n\r\n`);
    expect(blocked).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(blocked).toContain('bet.test is blocked by the internet policy: Gambling sites are never acceptable.');
    // a warning cannot be shown inside TLS without a CA, and browsing does not stop for one
    const body = await new Promise<{ sha: string; issuer: string }>((resolve, reject) => {
      const sock = netConnect(s.proxyPort, '127.0.0.1', () => sock.write(`CONNECT video.test:${s.httpsPort} HTTP/1.1\r\nHost: video.test\r\n\r\n`));
      sock.once('data', (d) => {
        expect(d.toString()).toMatch(/^HTTP\/1\.1 200/);
        const t = tlsConnect({ socket: sock, servername: 'secure.test', ca: [s.publicCa.certPem] }, () => {
          const chunks: Buffer[] = [];
          t.write('GET /big HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n');
          t.on('data', (c: Buffer) => chunks.push(c));
          t.on('end', () => {
            const all = Buffer.concat(chunks);
            resolve({ sha: createHash('sha256').update(all.subarray(all.indexOf('\r\n\r\n') + 4)).digest('hex'), issuer: t.getPeerX509Certificate()!.issuer });
          });
        });
        t.on('error', reject);
      });
      sock.on('error', reject);
    });
    expect(body.issuer).toContain('Public Test CA');
    expect(body.sha).toBe(BIG_SHA);
  });

  it('a block on plain HTTP gets the staff block page: clause, site, category, rule, reference and the two console links', async () => {
    await recordAupAcceptance(s.p.store, s.p.redis, { userPseudonym: s.p.pseudonyms.user('alice'), version: '3', clientPseudonym: 'c' });
    const r = await raw(`GET http://bet.test:${s.httpPort}/spin HTTP/1.1\r\nHost: bet.test\r\nConnection: close\r\n\r\n`);
    expect(r).toMatch(/^HTTP\/1\.1 403/);
    expect(r).toContain('This site is blocked');
    expect(r).toContain('Gambling sites are never acceptable.');
    expect(r).toContain(`http://bet.test:${s.httpPort}/spin`);
    expect(r).toContain('Gambling sites');
    for (let i = 0; i < 50 && !s.sink.events.some((e) => e.host === 'bet.test' && e.path === '/spin'); i++) await new Promise((r) => setTimeout(r, 100));
    const e = s.sink.events.find((x) => x.host === 'bet.test' && x.path === '/spin');
    expect(e).toMatchObject({ action: 'block', status: 403, category: 'gambling', rule: 'rule:1' });
    expect(r).toContain(e!.event_id);
    expect(r).toContain(`${s.consoleUrl}/request-exception?`);
    expect(r).toContain(`${s.consoleUrl}/report-accident?`);
  });

  it('markup in a raw request line or host never reaches a page', async () => {
    const path = `/"><script>alert(1)</script><img src=x onerror=alert(2)>`;
    const r = await raw(`GET http://bet.test:${s.httpPort}${path} HTTP/1.1\r\nHost: bet.test\r\n\r\n`);
    // Node's parser refuses raw markup in a request target; the answer must not echo it either
    expect(r).toMatch(/^HTTP\/1\.1 400/);
    expect(r).not.toContain('<script>alert');
    expect(r).not.toContain('<img src=x');
    // what the parser lets through (quotes, percent-encoded markup) is shown as text on the block page
    const quoted = await raw(`GET http://bet.test:${s.httpPort}/it's%22%3E%3Cscript%3E HTTP/1.1\r\nHost: bet.test\r\n\r\n`);
    expect(quoted).toMatch(/^HTTP\/1\.1 403/);
    expect(quoted).toContain('/it&#39;s%22%3E%3Cscript%3E');
    expect(quoted).toMatch(/content-security-policy: default-src 'none'; style-src 'sha256-/i);
    const host = await raw(`CONNECT <script>alert(1)</script>:${s.httpsPort} HTTP/1.1\r\n\r\n`);
    expect(host).toMatch(/^HTTP\/1\.1 400/);
    expect(host).not.toContain('<script>alert');
  });
});
