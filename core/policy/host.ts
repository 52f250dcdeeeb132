import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';

// One normal form for host names, shared by the list loader and the decision path, so a list entry
// and a request for the same site always compare equal: lower case, no trailing dot, IDN as
// punycode, IPv6 without brackets in its canonical compressed form.

export type HostKind = 'domain' | 'ipv4' | 'ipv6';

export interface NormalHost {
  host: string;
  kind: HostKind;
}

const PLAIN = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

/** Canonical IPv6 text (RFC 5952 style) via the WHATWG URL parser. */
function canonicalIPv6(raw: string): string {
  return new URL(`http://[${raw}]/`).hostname.slice(1, -1);
}

/**
 * Normalises a host as it appears in a request or a list. Returns null when it is not a usable
 * host name (empty labels, spaces, characters IDNA refuses).
 */
export function normaliseHost(raw: string): NormalHost | null {
  let h = raw.trim();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIPv6(h)) return { host: canonicalIPv6(h), kind: 'ipv6' };
  while (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '' || h.length > 253) return null;
  if (isIPv4(h)) return { host: h, kind: 'ipv4' };
  let lower = h.toLowerCase();
  if (!PLAIN.test(lower)) {
    // IDN and other non-ASCII: IDNA to punycode (domainToASCII returns '' when it refuses)
    lower = domainToASCII(lower);
    if (lower === '' || !PLAIN.test(lower)) return null;
  }
  // DNS labels are at most 63 bytes
  for (let start = 0, dot = 0; dot >= 0; start = dot + 1) {
    dot = lower.indexOf('.', start);
    if ((dot < 0 ? lower.length : dot) - start > 63) return null;
  }
  return { host: lower, kind: 'domain' };
}

/** True when `host` is `domain` or one of its subdomains (never a lookalike such as evilexample.com). */
export function hostWithin(host: string, domain: string): boolean {
  return host === domain || (host.length > domain.length && host.endsWith(domain) && host.charCodeAt(host.length - domain.length - 1) === 46);
}
