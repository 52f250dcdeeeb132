import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../core/identity/users.ts';
import type { CredentialRecord } from '../../proxy/credentials.ts';
import { parseBasic } from '../../proxy/identify.ts';
import { basic, pseudonyms, rawExchange, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// The identification order (docs/architecture/contract.md, "Proxy behaviour"): Basic for directory users, the IP → user map, guest networks, 407.

const run = promisify(execFile);
let origin: Origin;
let px: TestProxy;
let records: CredentialRecord[];

beforeAll(async () => {
  origin = await startOrigin();
  records = [
    { username: 'sam', passwordHash: await hashPassword('sam password 1'), group: 'volunteers', disabled: false },
    { username: 'olga', passwordHash: await hashPassword('olga password 1'), group: 'staff', disabled: true },
  ];
  // no guest network: loopback clients must identify
  px = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n', records });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

function fetchVia(auth: string | null, url = `${origin.url}/small`): Promise<string> {
  return rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`);
}

describe('identification', () => {
  it('parses Basic credentials (password may contain colons)', () => {
    expect(parseBasic(basic('sam', 'a:b c'))).toEqual({ username: 'sam', password: 'a:b c' });
    expect(parseBasic('Bearer xyz')).toBeNull();
    expect(parseBasic('Basic ' + Buffer.from('nocolon').toString('base64'))).toBeNull();
  });

  it('no credentials: 407 with Proxy-Authenticate: Basic realm="fairwatch" and an event', async () => {
    const answer = await fetchVia(null);
    expect(answer).toMatch(/^HTTP\/1\.1 407 /);
    expect(answer).toMatch(/\r\nProxy-Authenticate: Basic realm="fairwatch"\r\n/i);
    const e = await px.find((x) => x.action === 'auth-required');
    expect(e).toMatchObject({ status: 407, user_group: 'unidentified', user_pseudonym: pseudonyms.client('127.0.0.1') });
  });

  it('curl follows the 407 flow with -U and the event holds the user pseudonym and directory group', async () => {
    const r = await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', px.url, '--proxy-user', 'SAM:sam password 1', '--proxy-anyauth', '-o', '/dev/null', '-w', '%{http_code}', `${origin.url}/small`]);
    expect(r.stdout).toBe('200');
    const e = await px.find((x) => x.status === 200);
    expect(e).toMatchObject({ user_pseudonym: pseudonyms.user('sam'), user_group: 'volunteers', action: 'allow' });
    expect(JSON.stringify(e)).not.toMatch(/sam/i);
  });

  it('undici ProxyAgent with a token gets through; a wrong password gets 407 flagged bad-credentials', async () => {
    const ok = new ProxyAgent({ uri: px.url, token: basic('sam', 'sam password 1'), proxyTunnel: false });
    const res = await request(`${origin.url}/small`, { dispatcher: ok });
    expect(res.statusCode).toBe(200);
    await res.body.arrayBuffer();
    await ok.close();
    const answer = await fetchVia(basic('sam', 'wrong password'));
    expect(answer).toMatch(/^HTTP\/1\.1 407 /);
    const e = await px.find((x) => x.flags.includes('bad-credentials'));
    expect(e).toMatchObject({ status: 407, action: 'auth-required' });
  });

  it('a successful check is cached: many requests cost one argon2 verification', async () => {
    const before = px.credentials.verifications;
    const auth = basic('sam', 'sam password 1');
    await Promise.all(Array.from({ length: 20 }, () => fetchVia(auth)));
    for (let i = 0; i < 10; i++) expect(await fetchVia(auth)).toMatch(/^HTTP\/1\.1 200 /);
    // the first few requests may have raced the first verification; at most one more was needed
    expect(px.credentials.verifications - before).toBeLessThanOrEqual(1);
  });

  it('a password change or a disable takes effect at once despite the cache', async () => {
    const auth = basic('sam', 'sam password 1');
    expect(await fetchVia(auth)).toMatch(/^HTTP\/1\.1 200 /);
    const changed = records.map((r) => (r.username === 'sam' ? { ...r } : r));
    changed[0]!.passwordHash = await hashPassword('sam password 2');
    px.credentials.replace(changed);
    expect(await fetchVia(auth)).toMatch(/^HTTP\/1\.1 407 /);
    expect(await fetchVia(basic('sam', 'sam password 2'))).toMatch(/^HTTP\/1\.1 200 /);
    px.credentials.replace(changed.map((r) => ({ ...r, disabled: true })));
    expect(await fetchVia(basic('sam', 'sam password 2'))).toMatch(/^HTTP\/1\.1 407 /);
    px.credentials.replace(records);
  });

  it('a disabled user cannot browse', async () => {
    expect(await fetchVia(basic('olga', 'olga password 1'))).toMatch(/^HTTP\/1\.1 407 /);
  });

  it('CONNECT without credentials gets 407 too', async () => {
    const answer = await rawExchange(px.port, 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 407 [\s\S]*Proxy-Authenticate: Basic realm="fairwatch"/);
  });

  it('the IP → user map identifies a fixed desktop; guest networks give the guests group', async () => {
    const mapped = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  ipUsers: { "127.0.0.1": Sam }\n', records });
    const guests = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\nidentity:\n  guestNetworks: ["127.0.0.0/8"]\n' });
    try {
      const a = await rawExchange(mapped.port, `GET ${origin.url}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(a).toMatch(/^HTTP\/1\.1 200 /);
      expect((await mapped.events(1))[0]).toMatchObject({ user_pseudonym: pseudonyms.user('sam'), user_group: 'volunteers' });
      const g = await rawExchange(guests.port, `GET ${origin.url}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(g).toMatch(/^HTTP\/1\.1 200 /);
      expect((await guests.events(1))[0]).toMatchObject({ user_pseudonym: pseudonyms.client('127.0.0.1'), user_group: 'guests' });
    } finally {
      await mapped.close();
      await guests.close();
    }
  });
});
