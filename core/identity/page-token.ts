import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { FairwatchError } from '../errors.ts';

// Links on staff pages ("I need this for my work", "I reached this by accident", the AUP gate,
// sign-in, "Continue") carry a short-lived signed token instead of asking staff to log in: the
// proxy already knows who is browsing, the console only needs proof of it. The token binds the
// purpose, the event, the person (pseudonym) and an expiry under HMAC-SHA256 with the 'page-token'
// key, so it cannot be replayed for another event, person or purpose, nor edited.

export type PagePurpose = 'exception' | 'accident' | 'aup' | 'sign-in' | 'sign-out' | 'continue';

export interface PageTokenClaims {
  purpose: PagePurpose;
  /** the access event the page was shown for (its reference) */
  eventId: string;
  /** user pseudonym; for sign-in/sign-out the client (device) pseudonym */
  pseudonym: string;
  /** expiry, seconds since the epoch */
  expiresAt: number;
  /** a random id so single use can be enforced */
  nonce: string;
  /** what the page was about: category, host, rule, group (no names, no addresses) */
  category?: string;
  host?: string;
  rule?: string;
  group?: string;
  /** warn: minutes a "continue" allows the category */
  minutes?: number;
}

export type PageTokenErrorCode = 'FW_TOKEN_MALFORMED' | 'FW_TOKEN_TAMPERED' | 'FW_TOKEN_EXPIRED' | 'FW_TOKEN_PURPOSE' | 'FW_TOKEN_EVENT' | 'FW_TOKEN_PERSON' | 'FW_TOKEN_USED';

export class PageTokenError extends FairwatchError<PageTokenErrorCode> {}

/** Lifetime of page links: long enough to read a page and write a reason, short enough to go stale. */
export const DEFAULT_TOKEN_MINUTES = 60;

const b64 = (b: Buffer) => b.toString('base64url');

export class PageTokens {
  constructor(private readonly key: Buffer, private readonly now: () => number = Date.now) {
    if (key.length < 32) throw new Error('page-token key must be at least 32 bytes');
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update('page-token\0' + body).digest();
  }

  issue(claims: Omit<PageTokenClaims, 'expiresAt' | 'nonce'> & { expiresAt?: number; ttlMinutes?: number }): string {
    const { ttlMinutes, ...rest } = claims;
    const full: PageTokenClaims = {
      ...rest,
      expiresAt: claims.expiresAt ?? Math.floor(this.now() / 1000) + Math.round((ttlMinutes ?? DEFAULT_TOKEN_MINUTES) * 60),
      nonce: b64(randomBytes(12)),
    };
    const body = b64(Buffer.from(JSON.stringify(full)));
    return `${body}.${b64(this.mac(body))}`;
  }

  /**
   * The claims when the token is genuine, unexpired and issued for this purpose (and, when given,
   * this event and this person); otherwise a PageTokenError saying which check failed.
   */
  verify(token: string, expect: { purpose: PagePurpose; eventId?: string; pseudonym?: string }): PageTokenClaims {
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 2 || !parts[0] || !parts[1] || token.length > 4096) {
      throw new PageTokenError('FW_TOKEN_MALFORMED', 'the link is incomplete or damaged: open it again from the page that gave it');
    }
    const [body, sig] = parts as [string, string];
    const given = Buffer.from(sig, 'base64url');
    const want = this.mac(body);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new PageTokenError('FW_TOKEN_TAMPERED', 'the link was changed or was not issued by this organisation');
    }
    let claims: PageTokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as PageTokenClaims;
    } catch {
      throw new PageTokenError('FW_TOKEN_MALFORMED', 'the link is damaged');
    }
    if (typeof claims.expiresAt !== 'number' || claims.expiresAt * 1000 <= this.now()) {
      throw new PageTokenError('FW_TOKEN_EXPIRED', 'the link has expired: go back to the site and use the new page');
    }
    if (claims.purpose !== expect.purpose) {
      throw new PageTokenError('FW_TOKEN_PURPOSE', `the link was issued for "${claims.purpose}", not "${expect.purpose}"`);
    }
    if (expect.eventId !== undefined && claims.eventId !== expect.eventId) {
      throw new PageTokenError('FW_TOKEN_EVENT', 'the link belongs to a different page (another reference)');
    }
    if (expect.pseudonym !== undefined && claims.pseudonym !== expect.pseudonym) {
      throw new PageTokenError('FW_TOKEN_PERSON', 'the link was issued to someone else');
    }
    return claims;
  }
}

const usedKey = (nonce: string) => `fairwatch:page-token:used:${nonce}`;

/**
 * Marks a verified token as spent (Redis SET NX, kept until it expires anyway), so a submitted
 * request cannot be submitted twice with the same link. Throws FW_TOKEN_USED the second time.
 */
export async function spendToken(redis: Redis, claims: PageTokenClaims, now: () => number = Date.now): Promise<void> {
  const ttl = Math.max(1, claims.expiresAt - Math.floor(now() / 1000));
  const ok = await redis.set(usedKey(claims.nonce), '1', 'EX', ttl, 'NX');
  if (ok !== 'OK') throw new PageTokenError('FW_TOKEN_USED', 'this link has already been used');
}

export async function tokenSpent(redis: Redis, claims: PageTokenClaims): Promise<boolean> {
  return (await redis.exists(usedKey(claims.nonce))) === 1;
}
