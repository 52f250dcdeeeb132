import { BlockList, isIP } from 'node:net';

// CIDR sets on Node's own BlockList (native, handles IPv4, IPv6 and IPv4-mapped IPv6).

export function isValidCidr(text: string): boolean {
  const [addr, prefix, ...rest] = text.split('/');
  if (rest.length > 0 || !addr) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** strips the IPv4-mapped prefix so ::ffff:127.0.0.1 compares as 127.0.0.1 */
export function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      if (!isValidCidr(c)) throw new Error(`not a CIDR: ${c}`);
      const [addr, prefix] = c.split('/') as [string, string | undefined];
      const type = isIP(addr) === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(prefix), type);
    }
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    const plain = normaliseIp(ip);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}
