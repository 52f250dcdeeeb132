import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../core/identity/users.ts';
import { CredentialStore, DEFAULT_AUTH_LIMITS, type CheckOutcome, type CredentialRecord } from '../../proxy/credentials.ts';
import { Identifier } from '../../proxy/identify.ts';
import { basic, rawExchange, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// Password guessing at the proxy's Basic authentication, on real argon2: unknown and disabled names
// cost the same verification as a wrong password; failed guesses are limited per client address and
// per user name; the verification queue is bounded and one client holds only a few places in it; a
// remembered good credential is answered without waiting. Assertions count verifications and
// outcomes, never elapsed time; the clock that ends a lock is injected.

const SAM_PW = 'sam password 1';
let records: CredentialRecord[];

beforeAll(async () => {
  records = [
    { username: 'sam', passwordHash: await hashPassword(SAM_PW), group: 'volunteers', disabled: false },
    { username: 'olga', passwordHash: await hashPassword('olga password 1'), group: 'staff', disabled: true },
  ];
});

const refusal = (o: CheckOutcome) => (o.user ? 'ok' : o.refused);

/** A clock tests move by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

describe('credential checks (CredentialStore)', () => {
  it('an unknown or a disabled name costs one argon2 verification and gets the same answer as a wrong password', async () => {
    const store = new CredentialStore(records);
    for (const [name, pw] of [['sam', 'wrong password'], ['nobody-here', 'whatever 123'], ['olga', 'olga password 1'], ['OLGA ', 'other guess']] as const) {
      const before = store.verifications;
      const r = await store.check(name, pw, '10.0.0.1');
      expect(refusal(r), name).toBe('bad-credentials');
      expect(store.verifications - before, name).toBe(1);
    }
  });

  it('after the limit of failed guesses from one address, further checks from it are refused unverified until the window ends', async () => {
    const c = clock();
    const store = new CredentialStore(records, 300_000, { clientFailures: 3, userFailures: 100, windowMs: 60_000 }, c.now);
    for (let i = 0; i < 3; i++) expect(refusal(await store.check(`guess-${i}`, `pw ${i}`, '10.0.0.1'))).toBe('bad-credentials');
    expect(store.verifications).toBe(3);
    // even the right password is not checked from that address now, in any spelling of it
    for (const ip of ['10.0.0.1', '::ffff:10.0.0.1', '::ffff:a00:1']) {
      expect(refusal(await store.check('sam', SAM_PW, ip)), ip).toBe('auth-throttled');
    }
    expect(store.verifications).toBe(3);
    // another address is not affected
    expect(refusal(await store.check('sam', SAM_PW, '10.0.0.2'))).toBe('ok');
    expect(store.verifications).toBe(4);
    c.advance(59_000);
    expect(refusal(await store.check('sam', 'another guess', '10.0.0.1'))).toBe('auth-throttled');
    c.advance(2_000);
    // the cool-down is over; sam's good credential is remembered from 10.0.0.2, so it costs nothing
    expect(refusal(await store.check('sam', SAM_PW, '10.0.0.1'))).toBe('ok');
    expect(store.verifications).toBe(4);
  });

  it('the same wrong password again is neither verified nor counted (a browser resending a stale password)', async () => {
    const store = new CredentialStore(records, 300_000, { clientFailures: 3 });
    for (let i = 0; i < 10; i++) expect(refusal(await store.check('sam', 'old password', '10.0.0.3'))).toBe('bad-credentials');
    expect(store.verifications).toBe(1);
    expect(refusal(await store.check('sam', SAM_PW, '10.0.0.3'))).toBe('ok');
  });

  it('failed guesses for one name lock that name from every address, whatever the spelling; known and unknown names alike', async () => {
    const store = new CredentialStore(records, 300_000, { clientFailures: 100, userFailures: 3 });
    // sam browses already: the good credential is remembered
    expect(refusal(await store.check('sam', SAM_PW, '10.1.0.1'))).toBe('ok');
    const spellings = ['sam', ' SAM', '\uff53\uff41\uff4d'];
    for (const [i, name] of spellings.entries()) expect(refusal(await store.check(name, `guess ${i}`, `10.2.0.${i}`))).toBe('bad-credentials');
    for (let i = 0; i < 3; i++) expect(refusal(await store.check('ghost', `guess ${i}`, `10.3.0.${i}`))).toBe('bad-credentials');
    const before = store.verifications;
    expect(refusal(await store.check('Sam', 'one more guess', '10.4.0.1'))).toBe('auth-throttled');
    expect(refusal(await store.check('GHOST', 'one more guess', '10.4.0.1'))).toBe('auth-throttled');
    expect(store.verifications).toBe(before);
    // the person already browsing is not locked out: the remembered credential is answered first
    expect(refusal(await store.check('sam', SAM_PW, '10.1.0.1'))).toBe('ok');
    expect(store.verifications).toBe(before);
  });

  it('one address floods distinct guesses: two verify, four wait, the rest are refused at once', async () => {
    const store = new CredentialStore(records);
    const { maxParallel, maxQueuedPerClient } = DEFAULT_AUTH_LIMITS;
    const flood = Array.from({ length: 40 }, (_, i) => store.check(`user${i}`, `guess ${i}`, '10.5.0.1'));
    expect(store.queued).toBe(maxQueuedPerClient);
    const outcomes = (await Promise.all(flood)).map(refusal);
    expect(outcomes.filter((o) => o === 'auth-busy')).toHaveLength(40 - maxParallel - maxQueuedPerClient);
    expect(outcomes.filter((o) => o === 'bad-credentials')).toHaveLength(maxParallel + maxQueuedPerClient);
    expect(store.verifications).toBe(maxParallel + maxQueuedPerClient);
    expect(store.maxQueueSeen).toBe(maxQueuedPerClient);
  });

  it('many addresses together never queue more than the global bound', async () => {
    const maxParallel = 2;
    const maxQueued = 8;
    const store = new CredentialStore(records, 300_000, { maxParallel, maxQueued });
    const flood = Array.from({ length: 40 }, (_, i) => store.check(`user${i}`, `guess ${i}`, `10.6.${i % 20}.1`));
    expect(store.queued).toBe(maxQueued);
    const outcomes = (await Promise.all(flood)).map(refusal);
    expect(store.verifications).toBe(maxParallel + maxQueued);
    expect(outcomes.filter((o) => o === 'auth-busy')).toHaveLength(40 - maxParallel - maxQueued);
    expect(store.maxQueueSeen).toBe(maxQueued);
  });

  it('a remembered good credential is answered while the queue is full; a new one from another address still gets a place', async () => {
    const store = new CredentialStore(records);
    expect(refusal(await store.check('sam', SAM_PW, '10.7.0.1'))).toBe('ok');
    const before = store.verifications;
    const flood = Array.from({ length: 40 }, (_, i) => store.check(`user${i}`, `guess ${i}`, '10.7.9.9'));
    const waiting = store.queued;
    expect(waiting).toBeGreaterThan(0);
    expect(refusal(await store.check('sam', SAM_PW, '10.7.0.1'))).toBe('ok');
    // answered with the attackers' verifications still waiting, and without one of its own
    expect(store.queued).toBe(waiting);
    // a colleague whose credential is not remembered gets a queue place: the flooder holds only its share
    const fresh = new CredentialStore(records);
    const flood2 = Array.from({ length: 40 }, (_, i) => fresh.check(`user${i}`, `guess ${i}`, '10.8.9.9'));
    const colleague = fresh.check('sam', SAM_PW, '10.8.0.1');
    expect(refusal(await colleague)).toBe('ok');
    // it waited behind at most the flooder's running and queued verifications
    expect(fresh.verifications).toBeLessThanOrEqual(DEFAULT_AUTH_LIMITS.maxParallel + DEFAULT_AUTH_LIMITS.maxQueuedPerClient + 1);
    await Promise.all([...flood, ...flood2]);
    expect(store.verifications - before).toBe(DEFAULT_AUTH_LIMITS.maxParallel + DEFAULT_AUTH_LIMITS.maxQueuedPerClient);
  });

  it('the identifier reports why offered credentials did not count (the event flag)', async () => {
    const store = new CredentialStore(records, 300_000, { clientFailures: 1 });
    const id = new Identifier({ guestNetworks: [], ipUsers: {}, defaultGroup: 'staff' }, store);
    expect(await id.identify('10.9.0.1', basic('sam', 'wrong'))).toEqual({ identity: null, badCredentials: true, refused: 'bad-credentials' });
    expect(await id.identify('10.9.0.1', basic('sam', SAM_PW))).toEqual({ identity: null, badCredentials: true, refused: 'auth-throttled' });
    // a throttled address on a guest network still browses as a guest
    const guests = new Identifier({ guestNetworks: ['10.9.0.0/16'], ipUsers: {}, defaultGroup: 'staff' }, store);
    expect((await guests.identify('10.9.0.1', basic('sam', SAM_PW))).identity).toMatchObject({ how: 'guest' });
  });
});

describe('password guessing through the proxy', () => {
  let origin: Origin;
  let px: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin();
    px = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n', records, authLimits: { clientFailures: 5 } });
  });
  afterAll(async () => {
    await px?.close();
    await origin?.close();
  });

  const fetchVia = (auth: string) => rawExchange(px.port, `GET ${origin.url}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\nProxy-Authorization: ${auth}\r\n\r\n`);

  it('guesses from one address are verified up to the limit, then answered 407 without a verification; a browsing user carries on', async () => {
    expect(await fetchVia(basic('sam', SAM_PW))).toMatch(/^HTTP\/1\.1 200 /);
    const start = px.credentials.verifications;
    for (let i = 0; i < 5; i++) expect(await fetchVia(basic(i % 2 ? 'sam' : `nobody${i}`, `guess ${i}`))).toMatch(/^HTTP\/1\.1 407 [\s\S]*Proxy-Authenticate: Basic/);
    expect(px.credentials.verifications - start).toBe(5);
    for (let i = 0; i < 10; i++) expect(await fetchVia(basic('sam', `more guess ${i}`))).toMatch(/^HTTP\/1\.1 407 /);
    // a CONNECT guess is refused the same way
    const tunnel = await rawExchange(px.port, `CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\nProxy-Authorization: ${basic('sam', 'tunnel guess')}\r\n\r\n`);
    expect(tunnel).toMatch(/^HTTP\/1\.1 407 /);
    expect(px.credentials.verifications - start).toBe(5);
    // sam's remembered credential still works from the same address
    expect(await fetchVia(basic('sam', SAM_PW))).toMatch(/^HTTP\/1\.1 200 /);
    const refused = px.sink.events.filter((e) => e.status === 407);
    expect(refused.length).toBeGreaterThanOrEqual(16);
    expect(refused.every((e) => e.action === 'auth-required' && e.flags.includes('bad-credentials'))).toBe(true);
  });

  it('a flood of concurrent guesses costs a bounded number of verifications', async () => {
    const fresh = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n', records });
    try {
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) =>
        rawExchange(fresh.port, `GET ${origin.url}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\nProxy-Authorization: ${basic(`u${i}`, `guess ${i}`)}\r\n\r\n`, 20_000)));
      expect(answers.every((a) => /^HTTP\/1\.1 407 /.test(a))).toBe(true);
      // one address holds at most its running and queued share; the rest were answered at once, and
      // once its failures reach the limit nothing more is verified (those already running finish)
      const { clientFailures, maxParallel, maxQueuedPerClient } = DEFAULT_AUTH_LIMITS;
      expect(fresh.credentials.verifications).toBeLessThanOrEqual(clientFailures + maxParallel + maxQueuedPerClient);
      expect(fresh.credentials.maxQueueSeen).toBeLessThanOrEqual(DEFAULT_AUTH_LIMITS.maxQueuedPerClient);
    } finally {
      await fresh.close();
    }
  });
});
