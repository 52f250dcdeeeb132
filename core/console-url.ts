import type { Redis } from 'ioredis';
import type { Config } from './config/schema.ts';
import { remembered } from './remembered.ts';

// Where block pages, the AUP gate and the sign-in redirect send staff browsers: the console.
// console.publicUrl when set. Otherwise the console role publishes the address it actually listens
// on (console.port 0 picks a free port) under CONSOLE_URL_KEY, and the proxy reads it from there.
// A console listening on every interface (0.0.0.0 / ::) has no single address to link to: the
// proxy then uses the address the browser reached the proxy at (the same machine in a one-host
// install), and the operator is told to set console.publicUrl.

export const CONSOLE_URL_KEY = 'fairwatch:console-url';

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '::0', '']);

export function isWildcard(host: string): boolean {
  return WILDCARDS.has(host);
}

/** http://host:port with IPv6 hosts in brackets. */
export function httpUrl(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** What the config alone says, before the console has published anything. */
export function configuredConsoleUrl(cfg: Config): string {
  return cfg.console.publicUrl?.replace(/\/$/, '') ?? httpUrl(cfg.console.bind, cfg.console.port);
}

/** Why links may be wrong, or null: a wildcard bind without console.publicUrl. */
export function consoleUrlWarning(cfg: Config): string | null {
  if (cfg.console.publicUrl || !isWildcard(cfg.console.bind)) return null;
  return `console.bind is ${cfg.console.bind || '(empty)'} and console.publicUrl is not set: links on block and sign-in pages use the address browsers reach the proxy at. Set console.publicUrl to the console's address as staff browsers reach it.`;
}

/** Written by the console role once it listens (no expiry: the last console's address stands). */
export async function publishConsoleUrl(redis: Redis, url: string): Promise<void> {
  await redis.set(CONSOLE_URL_KEY, url.replace(/\/$/, ''));
}

/**
 * The console URL as this proxy process knows it: publicUrl, else the published address (re-read
 * every `refreshMs`, so a console started later or restarted on a new port is picked up), else
 * the config's bind:port. `forProxyAddress` swaps a wildcard host for the address the client used.
 */
export class ConsoleUrlSource {
  private published: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** console.publicUrl, else the config's bind:port (the config does not change under a process) */
  private readonly configured: string;

  constructor(private readonly cfg: Config, private readonly redis: Redis | null, private readonly refreshMs = 5000) {
    this.configured = configuredConsoleUrl(cfg);
  }

  async refresh(): Promise<void> {
    if (this.cfg.console.publicUrl || !this.redis) return;
    try {
      const v = await this.redis.get(CONSOLE_URL_KEY);
      if (v && /^https?:\/\//.test(v)) this.published = v;
    } catch {
      // Redis away: keep the last known address
    }
  }

  /** Reads once (bounded wait, Redis may be away), then keeps reading in the background. */
  async start(): Promise<void> {
    await Promise.race([this.refresh(), new Promise((r) => setTimeout(r, 2000).unref())]);
    if (!this.cfg.console.publicUrl && this.redis) {
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** base URL → (proxy address → URL): asked on every request, and both change rarely */
  private memo: { base: string; byAddress: Map<string, string>; make: (address: string) => string } = { base: '', byAddress: new Map(), make: () => '' };

  current(proxyAddress?: string): string {
    const base = this.cfg.console.publicUrl ? this.configured : this.published ?? this.configured;
    if (this.memo.base !== base) {
      const url = base.replace(/\/$/, '');
      this.memo = { base, byAddress: new Map(), make: (address) => forProxyAddress(url, address || undefined) };
    }
    // a proxy listens on a handful of local addresses; the bound only guards against surprises
    return remembered(this.memo.byAddress, proxyAddress ?? '', 64, this.memo.make);
  }
}

/** A wildcard host in `url` replaced by the proxy's local address on the client's connection. */
export function forProxyAddress(url: string, proxyAddress?: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!isWildcard(host) || !proxyAddress) return url.replace(/\/$/, '');
  const local = proxyAddress.startsWith('::ffff:') ? proxyAddress.slice(7) : proxyAddress;
  u.hostname = local.includes(':') ? `[${local}]` : local;
  return u.toString().replace(/\/$/, '');
}
