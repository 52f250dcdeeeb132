import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { HostsSource } from './hosts-source.ts';
import { RequestError } from './request-error.ts';

// Names are resolved here, once, and the guard checks every address before `dial` uses the first;
// the socket never resolves the name again (no window for a second, different DNS answer).
// The lookup is injectable so tests map a name to 10.0.0.5 or 127.0.0.1 without any DNS query.

export type LookupFn = (hostname: string, options: { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

// Under FAIRWATCH_DIAL_LOOPBACK_ONLY=1 (tests, benchmarks) the system resolver is never asked: a
// DNS query would leave the machine. Tests that need names inject a lookup.
const defaultLookup: LookupFn = (hostname, options, callback) => {
  if (process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY === '1') {
    callback(Object.assign(new Error(`DNS lookups are disabled (FAIRWATCH_DIAL_LOOPBACK_ONLY=1): ${hostname}`), { code: 'ENOTFOUND' }), []);
    return;
  }
  dnsLookup(hostname, options, callback);
};

export class Resolver {
  private readonly cache = new Map<string, { addresses: string[]; until: number }>();

  constructor(private readonly lookup: LookupFn = defaultLookup, private readonly hosts: HostsSource | null = null, private readonly ttlMs = 30_000, private readonly timeoutMs = 10_000) {}

  /** The addresses when they are known without asking DNS (an address, the hosts file, the cache); else null. */
  known(host: string, now = Date.now()): string[] | null {
    if (isIP(host)) return [host];
    const listed = this.hosts?.lookup(host);
    if (listed) return [...listed];
    const hit = this.cache.get(host);
    return hit && hit.until > now ? hit.addresses : null;
  }

  /** The addresses: known ones at once, else from DNS. */
  async resolve(host: string): Promise<string[]> {
    return this.known(host) ?? await this.ask(host);
  }

  /** Asks DNS (for a name `known` did not answer) and remembers the answer for the TTL. */
  async ask(host: string): Promise<string[]> {
    const now = Date.now();
    const addresses = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RequestError(504, 'FW_DNS_FAILED', `looking up ${host} took too long`, 'dns-failed')), this.timeoutMs);
      this.lookup(host, { all: true }, (err, list) => {
        clearTimeout(timer);
        if (err) reject(new RequestError(502, 'FW_DNS_FAILED', `the name ${host} could not be found (${err.message})`, 'dns-failed'));
        else resolve(list.map((a) => a.address));
      });
    });
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(host, { addresses, until: now + this.ttlMs });
    return addresses;
  }
}
