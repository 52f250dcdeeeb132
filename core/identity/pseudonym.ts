import { createHmac } from 'node:crypto';
import { normaliseIp } from '../net/cidr.ts';

// Events carry HMAC-SHA256(pseudonym key, normalised value) instead of names and addresses. The
// prefix keeps 64 bits: enough that two people in one organisation never collide, short enough to
// read in a report. A domain label keeps a user name and an IP that happen to be equal apart.

const PREFIX_HEX = 16;

export function normaliseUsername(name: string): string {
  return name.normalize('NFKC').trim().toLowerCase();
}

export class Pseudonymiser {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('pseudonym key must be at least 32 bytes');
  }

  user(username: string): string {
    return createHmac('sha256', this.key).update('user\0' + normaliseUsername(username)).digest('hex').slice(0, PREFIX_HEX);
  }

  client(ip: string): string {
    return createHmac('sha256', this.key).update('ip\0' + normaliseIp(ip).toLowerCase()).digest('hex').slice(0, PREFIX_HEX);
  }
}
