import type { Redis } from 'ioredis';
import { counter, gauge } from '../../core/metrics.ts';
import { recordUntrustedCa, untrustedCaSeen } from '../../core/tls/untrusted-ca.ts';

// A client that does not trust the organisation CA says so with a TLS alert when it sees the leaf
// of an inspected tunnel. Its connection fails that once; from then on its tunnels are spliced
// untouched for proxy.untrustedCaMinutes, so browsing goes on. Remembered in this process and in
// Redis (every worker and proxy sees it), counted for the health figures.

/**
 * The alerts a client sends when it refuses the server's certificate, as Node names them:
 * bad_certificate (42), unsupported_certificate (43), certificate_revoked (44),
 * certificate_expired (45), certificate_unknown (46), unknown_ca (48).
 */
const CA_REJECTION_CODES = new Set([
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
]);

export function isCaRejection(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return CA_REJECTION_CODES.has(code);
}

const rejections = counter('fairwatch_proxy_untrusted_ca_rejections_total', 'Inspected HTTPS handshakes a client refused because it does not trust the organisation CA (its tunnels are then spliced for a while)');
const splicedClients = gauge('fairwatch_proxy_untrusted_ca_clients', 'Devices this process currently splices because they refused the organisation CA');

export interface UntrustedCaOptions {
  minutes: number;
  /** Pseudonymiser.client: the only form a device is stored or logged in */
  pseudonym: (ip: string) => string;
  /** shared record (fairwatch:untrusted-ca); absent: this process only */
  redis?: Redis | null;
  /** a Redis read longer than this counts as "not known" (the tunnel is then inspected) */
  readTimeoutMs?: number;
  onError?: (e: Error) => void;
}

export class UntrustedCaClients {
  /** client IP → epoch ms until which its tunnels are spliced */
  private readonly until = new Map<string, number>();
  private readonly windowMs: number;

  constructor(private readonly opts: UntrustedCaOptions) {
    this.windowMs = opts.minutes * 60_000;
  }

  /** Seen refusing the CA within the window, here or by another worker. */
  async spliced(ip: string, now = Date.now()): Promise<boolean> {
    const local = this.until.get(ip);
    if (local !== undefined) {
      if (local > now) return true;
      this.until.delete(ip);
      splicedClients.set(this.until.size);
    }
    const redis = this.opts.redis;
    if (!redis || redis.status !== 'ready') return false;
    try {
      const seen = await withTimeout(untrustedCaSeen(redis, this.opts.pseudonym(ip)), this.opts.readTimeoutMs ?? 500);
      if (seen === null || seen + this.windowMs <= now) return false;
      this.remember(ip, seen + this.windowMs);
      return true;
    } catch (e) {
      this.opts.onError?.(e as Error);
      return false;
    }
  }

  /** The client's TLS alert said it does not trust the CA. */
  rejected(ip: string, now = Date.now()): void {
    rejections.inc();
    this.remember(ip, now + this.windowMs);
    const redis = this.opts.redis;
    if (redis) void recordUntrustedCa(redis, this.opts.pseudonym(ip), now).catch((e: Error) => this.opts.onError?.(e));
  }

  private remember(ip: string, until: number): void {
    if (this.until.size > 50_000) this.until.clear();
    this.until.set(ip, until);
    splicedClients.set(this.until.size);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    t.unref();
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}
