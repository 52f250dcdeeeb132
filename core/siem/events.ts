import type { AuditRow } from '../audit/chain.ts';

// What goes to a SIEM, published by whatever module sees it (the audit log, the console's sign-in,
// the proxy's refusals) and taken by the syslog forwarder when one is configured. With no
// subscriber, publishing costs nothing. Security events carry a client address at most: never a
// user name, a site or a path (browsing stays out of the SIEM).

export type SecurityEventKind = 'console-lockout' | 'proxy-denied-client' | 'proxy-auth-throttled';

export type SiemEvent =
  | { kind: 'audit'; row: AuditRow }
  | { kind: 'security'; event: SecurityEventKind; tsMs: number; src: string; detail: string };

type Listener = (e: SiemEvent) => void;
const listeners = new Set<Listener>();

export function subscribeSiem(fn: Listener): () => void {
  listeners.add(fn);
  return () => { listeners.delete(fn); };
}

export function publishSiem(e: SiemEvent): void {
  for (const fn of listeners) {
    try {
      fn(e);
    } catch {
      // a forwarder fault must never reach the caller (the console or the proxy)
    }
  }
}

export function hasSiemListeners(): boolean {
  return listeners.size > 0;
}

/**
 * At most one event per kind and client address a minute: a client hammering the proxy would
 * otherwise fill the queue. The next event carries how many were folded into it.
 */
export class SecurityEventThrottle {
  private readonly last = new Map<string, { at: number; folded: number }>();
  constructor(private readonly windowMs = 60_000, private readonly maxKeys = 10_000) {}

  /** The number folded since the last one sent, or null when this one is folded. */
  admit(key: string, now: number): number | null {
    const prev = this.last.get(key);
    if (prev && now - prev.at < this.windowMs) {
      prev.folded++;
      return null;
    }
    if (this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: now, folded: 0 });
    return prev?.folded ?? 0;
  }
}

const throttle = new SecurityEventThrottle();

/** A security event from a hot path (the proxy): throttled per kind and address, and free without a SIEM. */
export function securityEvent(event: SecurityEventKind, src: string, detail: string, now = Date.now()): void {
  if (!hasSiemListeners()) return;
  const folded = throttle.admit(`${event}|${src}`, now);
  if (folded === null) return;
  publishSiem({ kind: 'security', event, tsMs: now, src, detail: folded ? `${detail} (${folded} more in the last minute)` : detail });
}
