// A client whose requests keep failing to connect to different ports is probing, not browsing
// (a port scan of a host on allowDestinations, or of the internet through the proxy). After
// `maxPorts` distinct failed host:port pairs within `windowMs`, the client's requests to ports other
// than 80 and 443 are refused for `coolDownMs`. Ordinary browsing never gets there: it fails on a
// handful of sites at most, and web ports stay open for it throughout.

export interface ScanGuardOptions {
  maxPorts?: number;
  windowMs?: number;
  coolDownMs?: number;
  /** clients tracked at once; the oldest are forgotten first */
  maxClients?: number;
}

interface Client {
  since: number;
  failed: Set<string>;
  blockedUntil: number;
}

const WEB_PORTS = new Set([80, 443]);

export class ScanGuard {
  private readonly clients = new Map<string, Client>();
  private readonly maxPorts: number;
  private readonly windowMs: number;
  private readonly coolDownMs: number;
  private readonly maxClients: number;

  constructor(opts: ScanGuardOptions = {}) {
    this.maxPorts = opts.maxPorts ?? 20;
    this.windowMs = opts.windowMs ?? 60_000;
    this.coolDownMs = opts.coolDownMs ?? 300_000;
    this.maxClients = opts.maxClients ?? 10_000;
  }

  /** True when this client may not try this port now. */
  refused(clientIp: string, port: number, now = Date.now()): boolean {
    if (WEB_PORTS.has(port)) return false;
    const c = this.clients.get(clientIp);
    return c !== undefined && c.blockedUntil > now;
  }

  /** A connection attempt from this client to host:port failed (refused, reset, timed out). */
  failed(clientIp: string, host: string, port: number, now = Date.now()): void {
    let c = this.clients.get(clientIp);
    if (!c || now - c.since > this.windowMs) {
      const blockedUntil = c?.blockedUntil ?? 0;
      c = { since: now, failed: new Set(), blockedUntil };
      this.clients.delete(clientIp);
      this.clients.set(clientIp, c);
      if (this.clients.size > this.maxClients) this.clients.delete(this.clients.keys().next().value!);
    }
    c.failed.add(`${host}:${port}`);
    if (c.failed.size >= this.maxPorts) c.blockedUntil = now + this.coolDownMs;
  }
}
