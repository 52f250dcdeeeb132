import { BlockList, isIP } from 'node:net';
import { remembered } from '../remembered.ts';

// CIDR sets on Node's own BlockList (native, IPv4 and IPv6); addresses are normalised first.

export function isValidCidr(text: string): boolean {
  const [addr, prefix, ...rest] = text.split('/');
  if (rest.length > 0 || !addr) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The eight 16-bit groups of a valid IPv6 address in the URL standard's serialisation (hex only). */
function ipv6Groups(canonical: string): number[] {
  const [head = '', tail] = canonical.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  return [...h, ...Array<string>(fill).fill('0'), ...t].map((g) => parseInt(g, 16));
}

/**
 * One spelling per address, so every comparison and range check sees the same thing: brackets and
 * a zone id dropped, IPv6 lower-case and compressed, and an IPv4 address carried inside IPv6 given
 * back as IPv4 — IPv4-mapped (::ffff:127.0.0.1, ::ffff:7f00:1) and the deprecated IPv4-compatible
 * ::/96 (::127.0.0.1, ::7f00:1) — because a socket to either reaches that IPv4 host, and the guard's
 * self-port and loopback checks are written for IPv4. :: and ::1 stay IPv6. Not an address: unchanged.
 */
export function normaliseIp(ip: string): string {
  // asked several times for every request, nearly always about the same few client addresses
  return remembered(normalised, ip, NORMALISED_MAX, normalise);
}

const NORMALISED_MAX = 4096;
const normalised = new Map<string, string>();

function normalise(ip: string): string {
  const bare = ip.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) return ip;
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const g = ipv6Groups(canonical);
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  const mapped = zeros(5) && g[5] === 0xffff;
  const compatible = zeros(6) && !(g[6] === 0 && g[7]! <= 1);
  if (!mapped && !compatible) return canonical;
  return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join('.');
}

export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      if (!isValidCidr(c)) throw new Error(`not a CIDR: ${c}`);
      const [given, prefix] = c.split('/') as [string, string | undefined];
      // a single address is stored the way has() will ask for it (::ffff:10.0.0.1 as 10.0.0.1)
      const addr = prefix === undefined ? normaliseIp(given) : given;
      const type = isIP(addr) === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(prefix), type);
    }
    this.size = cidrs.length;
  }

  /** answers already given: the set never changes, and a proxy sees the same few addresses again and again */
  private readonly seen = new Map<string, boolean>();

  has(ip: string): boolean {
    return remembered(this.seen, ip, 10_000, this.check);
  }

  private readonly check = (ip: string): boolean => {
    const plain = normaliseIp(ip);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
}
