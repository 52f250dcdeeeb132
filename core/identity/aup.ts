import type { Redis } from 'ioredis';
import type { Store } from '../storage/clickhouse.ts';

// Acceptance of the acceptable-use statement. The record that lasts is a row in ClickHouse
// `aup_acceptances` (pseudonym, version, time); Redis holds one set per statement version so proxy
// workers, which never touch ClickHouse, can check it. A new version is a new set: everyone is sent
// to the statement again. `warmAupCache` rebuilds the set from ClickHouse when Redis lost it.

export const aupSetKey = (version: string) => `fairwatch:aup:accepted:${version}`;

export interface AupAcceptance {
  userPseudonym: string;
  version: string;
  clientPseudonym: string;
  at?: Date;
}

/** Records an acceptance in ClickHouse (the record) and Redis (the gate the proxy reads). */
export async function recordAupAcceptance(store: Store, redis: Redis, a: AupAcceptance): Promise<void> {
  await store.insert('aup_acceptances', [{
    ts: (a.at ?? new Date()).toISOString(),
    user_pseudonym: a.userPseudonym,
    version: a.version,
    client_pseudonym: a.clientPseudonym,
  }]);
  await redis.sadd(aupSetKey(a.version), a.userPseudonym);
}

/** Whether this person accepted this version (Redis only: safe in proxy workers). */
export async function hasAcceptedAup(redis: Redis, userPseudonym: string, version: string): Promise<boolean> {
  return (await redis.sismember(aupSetKey(version), userPseudonym)) === 1;
}

/** Copies every acceptance of `version` from ClickHouse into Redis; returns how many people. */
export async function warmAupCache(store: Store, redis: Redis, version: string): Promise<number> {
  const rows = await store.rows<{ p: string }>(
    `SELECT DISTINCT user_pseudonym AS p FROM ${store.database}.aup_acceptances WHERE version = {v:String}`, { v: version });
  for (let i = 0; i < rows.length; i += 1000) {
    await redis.sadd(aupSetKey(version), ...rows.slice(i, i + 1000).map((r) => r.p));
  }
  return rows.length;
}

/**
 * A per-process view of the gate for the proxy: an acceptance, once seen, is remembered in memory
 * (it never goes away for that version), so an accepted person costs no Redis round trip.
 */
export class AupGate {
  private accepted = new Set<string>();
  constructor(private readonly redis: Redis, public version: string) {}

  /** Synchronous fast path: true when this process already knows the person accepted. */
  knownAccepted(userPseudonym: string): boolean {
    return this.accepted.has(userPseudonym);
  }

  async accepts(userPseudonym: string): Promise<boolean> {
    if (this.accepted.has(userPseudonym)) return true;
    if (await hasAcceptedAup(this.redis, userPseudonym, this.version)) {
      this.accepted.add(userPseudonym);
      return true;
    }
    return false;
  }

  /** A new statement version: forget what was accepted before. */
  setVersion(version: string): void {
    if (version === this.version) return;
    this.version = version;
    this.accepted.clear();
  }
}
