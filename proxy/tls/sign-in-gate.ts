import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { signedInAs, type SignInBinding } from '../../core/identity/sign-in-binding.ts';
import { CidrSet } from '../../core/net/cidr.ts';
import { pageHeaders, shortBlockPage, type StaffPages } from '../../core/pages/index.ts';
import type { LeafMinter } from '../../core/tls/leaf.ts';
import { rawResponse } from '../pages.ts';
import { serveBlockOverTls } from './intercept.ts';

// Sign-in networks at the proxy (identity.signInNetworks): a device someone signed in on at the
// console browses as that person; an unidentified browser there is sent to the console's sign-in
// page instead of getting a 407 it cannot answer. The binding lives in Redis (written by the
// console); a short in-memory cache keeps it off the hot path, so a sign-out takes effect within
// `cacheMs`.

export class SignInGate {
  private readonly nets: CidrSet;
  private readonly cache = new Map<string, { binding: SignInBinding | null; until: number }>();

  constructor(private readonly redis: Redis, private readonly pseudonyms: Pseudonymiser, networks: readonly string[], private readonly cacheMs = 2000) {
    this.nets = new CidrSet([...networks]);
  }

  /** Whether this client address is on a sign-in network. */
  covers(clientIp: string): boolean {
    return this.nets.has(clientIp);
  }

  /** The person signed in on this device, or null (also null when Redis is away: they sign in again). */
  async identify(clientIp: string): Promise<{ user: string; group: string } | null> {
    if (!this.covers(clientIp)) return null;
    const client = this.pseudonyms.client(clientIp);
    const now = Date.now();
    const hit = this.cache.get(client);
    if (hit && hit.until > now) return hit.binding;
    let binding: SignInBinding | null = null;
    try {
      binding = await signedInAs(this.redis, client);
    } catch {
      binding = null;
    }
    if (binding && Date.parse(binding.until) <= now) binding = null;
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(client, { binding, until: now + this.cacheMs });
    return binding ? { user: binding.user, group: binding.group } : null;
  }

  /** Plain HTTP from an unidentified browser: 302 to the console's sign-in page, back here after. */
  answerHttp(res: ServerResponse, pages: StaffPages, ev: { eventId: string; url: string; at: Date }, clientIp: string): void {
    const location = pages.signInLocation({ ...ev, host: '' }, this.pseudonyms.client(clientIp));
    res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', 'Content-Length': 0 });
    res.end();
  }

  /** CONNECT from an unidentified browser: the sign-in page over TLS with a CA, else 403 naming the link. Returns the status. */
  answerConnect(socket: Duplex, head: Buffer, pages: StaffPages, ev: { eventId: string; host: string; at: Date }, clientIp: string, minter: LeafMinter | null): number {
    const client = this.pseudonyms.client(clientIp);
    const base = { eventId: ev.eventId, at: ev.at, host: ev.host, url: `https://${ev.host}/` };
    if (!minter) {
      socket.end(rawResponse(403, 'Forbidden', shortBlockPage(ev.host, `sign in first: ${pages.signInLocation(base, client)}`, ev.eventId)));
      return 403;
    }
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    serveBlockOverTls(socket, head, {
      host: ev.host, minter,
      handler: (req, res) => {
        req.resume();
        const page = pages.signInRequired({ ...base, url: `https://${ev.host}${(req.url ?? '/').split('?')[0]}` }, client);
        res.writeHead(page.status, pageHeaders(page));
        res.end(page.html);
      },
    });
    return 200;
  }

  /** Forget cached bindings (e.g. on a sign-out message). */
  clear(): void {
    this.cache.clear();
  }
}
