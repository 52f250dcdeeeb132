import { BlockList, isIP } from 'node:net';
import { CidrSet, isValidCidr, normaliseIp } from '../core/net/cidr.ts';

// Not an open proxy, and not a way into the office network or the cloud's metadata service: a
// destination is refused when any address its name resolves to is loopback, private, link-local,
// shared, multicast or reserved, unless proxy.allowDestinations names the host or a CIDR holding
// the address. The proxy's own port and the console's are refused on every local address whatever
// the allow list says (a request to itself would loop; the console must be reached directly).
// Every address is normalised first (core/net/cidr.ts normaliseIp): an IPv4 address written as
// IPv4-mapped or IPv4-compatible IPv6 is checked as the IPv4 address it reaches, so
// [::ffff:127.0.0.1] and [::7f00:1] meet the same loopback and self-port rules as 127.0.0.1. IPv6
// ranges that carry or translate IPv4 (6to4, Teredo, NAT64, SIIT) count as special.
// Pure: the caller resolves names (with an injectable lookup) and dials only the checked address.

const SPECIAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16],
  ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) SPECIAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7],
  ['fe80::', 10], ['ff00::', 8], ['2002::', 16], ['2001::', 32], ['64:ff9b:1::', 48], ['::ffff:0:0:0', 96],
] as const) SPECIAL.addSubnet(net, prefix, 'ipv6');

/** loopback, private, link-local (incl. 169.254.169.254 metadata), shared, multicast or reserved */
export function isSpecialAddress(ip: string): boolean {
  let hit = special.get(ip);
  if (hit === undefined) {
    const plain = normaliseIp(ip);
    const family = isIP(plain);
    hit = family === 0 || SPECIAL.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    if (special.size >= 10_000) special.clear();
    special.set(ip, hit);
  }
  return hit;
}

/** answers already given (the ranges are fixed) */
const special = new Map<string, boolean>();

export interface GuardConfig {
  /** proxy.allowDestinations: CIDRs and host names */
  allowDestinations: readonly string[];
  /** ports on this machine that must never be a destination (the proxy's, the console's) */
  selfPorts: readonly number[];
  /** addresses of this machine (interfaces and the bind address) */
  selfAddresses: readonly string[];
}

export type GuardVerdict = { ok: true } | { ok: false; reason: string };

export class DestinationGuard {
  private readonly allowNames: Set<string>;
  private readonly allowNets: CidrSet;
  private readonly selfPorts: Set<number>;
  private readonly selfAddresses: Set<string>;

  constructor(cfg: GuardConfig) {
    const cidrs = cfg.allowDestinations.filter((d) => isValidCidr(d));
    this.allowNets = new CidrSet(cidrs);
    this.allowNames = new Set(cfg.allowDestinations.filter((d) => !isValidCidr(d)).map((d) => d.toLowerCase().replace(/\.$/, '')));
    this.selfPorts = new Set(cfg.selfPorts.filter((p) => p > 0));
    this.selfAddresses = new Set(cfg.selfAddresses.map((a) => normaliseIp(a)));
  }

  /** `host` as the client wrote it (lower case, no brackets); `addresses` what it resolved to. */
  check(host: string, port: number, addresses: readonly string[]): GuardVerdict {
    if (addresses.length === 0) return { ok: false, reason: `${host} has no address` };
    const named = this.allowNames.has(host.toLowerCase().replace(/\.$/, ''));
    for (const raw of addresses) {
      const ip = normaliseIp(raw);
      if (this.selfPorts.has(port) && this.isSelf(ip)) {
        return { ok: false, reason: `${host.includes(':') ? `[${host}]` : host}:${port} is fairwatch itself (the proxy or the console port)` };
      }
      if (isSpecialAddress(ip) && !named && !this.allowNets.has(ip)) {
        const via = ip === host ? '' : ` (${host} resolves to ${ip})`;
        return { ok: false, reason: `${ip}${via} is a private, loopback, link-local or reserved address; add it to proxy.allowDestinations if staff need it` };
      }
    }
    return { ok: true };
  }

  private isSelf(ip: string): boolean {
    if (this.selfAddresses.has(ip)) return true;
    if (ip === '0.0.0.0' || ip === '::') return true;
    return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'));
  }
}
