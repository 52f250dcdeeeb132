import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';

// The pseudonym of a person or a device is HMAC-SHA256(key, domain + normalised value), cut to 64 bits.
// The Pseudonymiser remembers its answers (it is asked several times per request): remembered or
// not, an answer is always the HMAC.

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest('hex').slice(0, 16);

describe('pseudonyms', () => {
  it('are the HMAC of the normalised name or address, the same each time it is asked', () => {
    const key = randomBytes(32);
    const p = new Pseudonymiser(key);
    for (let round = 0; round < 3; round++) {
      expect(p.user('Alice')).toBe(hmac(key, 'user\0alice'));
      expect(p.user(' ALICE ')).toBe(hmac(key, 'user\0alice'));
      expect(p.user('ｂｏｂ')).toBe(hmac(key, 'user\0bob'));
      expect(p.client('::ffff:192.0.2.7')).toBe(hmac(key, 'ip\x00192.0.2.7'));
      expect(p.client('FD00::1')).toBe(hmac(key, 'ip\0fd00::1'));
    }
    // a user and an address that are the same text stay apart
    expect(p.user('192.0.2.7')).not.toBe(p.client('192.0.2.7'));
    // another key, other pseudonyms: nothing remembered crosses over
    expect(new Pseudonymiser(randomBytes(32)).user('alice')).not.toBe(p.user('alice'));
  });

  it('stay right when more people and devices are seen than are remembered', () => {
    const key = randomBytes(32);
    const p = new Pseudonymiser(key, 100);
    for (let i = 0; i < 1000; i++) {
      expect(p.user(`person${i % 250}`)).toBe(hmac(key, `user\0person${i % 250}`));
      expect(p.client(`10.0.${i % 7}.${i % 250}`)).toBe(hmac(key, `ip\x0010.0.${i % 7}.${i % 250}`));
    }
  });

  it('refuse a short key', () => {
    expect(() => new Pseudonymiser(randomBytes(16))).toThrow(/at least 32 bytes/);
  });
});
