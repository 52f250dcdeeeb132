import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AupGate, aupSetKey, hasAcceptedAup, recordAupAcceptance, warmAupCache } from '../../core/identity/aup.ts';
import { acceptedInStore } from '../helpers/aup-store.ts';
import { bindingKey, bindSignIn, signedInAs, signOut } from '../../core/identity/sign-in-binding.ts';
import type { Platform } from '../../core/platform.ts';
import { openTestPlatform } from '../helpers/platform.ts';

let p: Platform;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ platform: p, cleanup } = await openTestPlatform());
});
afterAll(async () => cleanup?.());

describe('AUP acceptance (ClickHouse record + Redis gate)', () => {
  it('is recorded in aup_acceptances and cached per version; a new version asks again', async () => {
    const alice = p.pseudonyms.user('alice');
    const gate = new AupGate(p.redis, '1');
    expect(await gate.accepts(alice)).toBe(false);
    await recordAupAcceptance(p.store, p.redis, { userPseudonym: alice, version: '1', clientPseudonym: p.pseudonyms.client('10.0.0.5') });
    expect(await gate.accepts(alice)).toBe(true);
    expect(gate.knownAccepted(alice)).toBe(true);
    const rows = await p.store.rows<{ user_pseudonym: string; version: string; client_pseudonym: string }>('SELECT user_pseudonym, version, client_pseudonym FROM fairwatch.aup_acceptances');
    expect(rows).toEqual([{ user_pseudonym: alice, version: '1', client_pseudonym: p.pseudonyms.client('10.0.0.5') }]);
    // no raw name anywhere in the row
    expect(JSON.stringify(rows)).not.toContain('alice');
    gate.setVersion('2');
    expect(gate.knownAccepted(alice)).toBe(false);
    expect(await gate.accepts(alice)).toBe(false);
    expect(await acceptedInStore(p.store, alice, '1')).toBe(true);
    expect(await acceptedInStore(p.store, alice, '2')).toBe(false);
  });

  it('the Redis gate is rebuilt from ClickHouse when Redis lost it', async () => {
    const bob = p.pseudonyms.user('bob');
    await recordAupAcceptance(p.store, p.redis, { userPseudonym: bob, version: '1', clientPseudonym: 'c' });
    await p.redis.del(aupSetKey('1'));
    expect(await hasAcceptedAup(p.redis, bob, '1')).toBe(false);
    expect(await warmAupCache(p.store, p.redis, '1')).toBe(2);
    expect(await hasAcceptedAup(p.redis, bob, '1')).toBe(true);
  });
});

describe('sign-in binding', () => {
  it('binds a device to a person for the configured hours; sign-out unbinds', async () => {
    const client = p.pseudonyms.client('192.168.20.14');
    expect(await signedInAs(p.redis, client)).toBeNull();
    const b = await bindSignIn(p.redis, client, { user: 'carol', group: 'volunteers' }, 0.5);
    expect(await signedInAs(p.redis, client)).toEqual(b);
    const ttl = await p.redis.ttl(bindingKey(client));
    expect(ttl).toBeGreaterThan(1700);
    expect(ttl).toBeLessThanOrEqual(1800);
    // the key names the device by pseudonym, never by address
    expect(bindingKey(client)).not.toContain('192.168');
    expect(await signOut(p.redis, client)).toBe(true);
    expect(await signedInAs(p.redis, client)).toBeNull();
    expect(await signOut(p.redis, client)).toBe(false);
  });

  it('a damaged binding is treated as no binding', async () => {
    await p.redis.set(bindingKey('x'), '{not json');
    expect(await signedInAs(p.redis, 'x')).toBeNull();
  });
});
