import { createHmac } from 'node:crypto';
import { normaliseIp } from '../net/cidr.ts';
import { remembered } from '../remembered.ts';

// Events carry HMAC-SHA256(pseudonym key, normalised value) instead of names and addresses. The
// prefix keeps 64 bits: enough that two people in one organisation never collide, short enough to
// read in a report. A domain label keeps a user name and an IP that happen to be equal apart.

const PREFIX_HEX = 16;

export function normaliseUsername(name: string): string {
  return name.normalize('NFKC').trim().toLowerCase();
}

/**
 * Pseudonyms are asked for several times on every request (the event, the person's policy state, the
 * acceptable-use gate) about the few people and machines an organisation has: each answer is
 * remembered rather than computing an HMAC each time.
 */
export class Pseudonymiser {
  private readonly users = new Map<string, string>();
  private readonly clients = new Map<string, string>();

  constructor(private readonly key: Buffer, private readonly remember = 50_000) {
    if (key.length < 32) throw new Error('pseudonym key must be at least 32 bytes');
  }

  user(username: string): string {
    return remembered(this.users, username, this.remember, this.userHmac);
  }

  client(ip: string): string {
    return remembered(this.clients, ip, this.remember, this.clientHmac);
  }

  private readonly userHmac = (username: string): string => this.hmac('user\0' + normaliseUsername(username));
  private readonly clientHmac = (ip: string): string => this.hmac('ip\0' + normaliseIp(ip).toLowerCase());

  private hmac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('hex').slice(0, PREFIX_HEX);
  }
}
