import { createHash } from 'node:crypto';

// Stream-id arithmetic for the ingester. Pure.

/** Compares two Redis stream ids (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = split(a);
  const [bm, bs] = split(b);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

function split(id: string): [bigint, bigint] {
  const dash = id.indexOf('-');
  return dash < 0 ? [BigInt(id), 0n] : [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}

/** The id right after `id`: XTRIM MINID keeps ids >= its argument. */
export function nextId(id: string): string {
  const [ms, seq] = split(id);
  return `${ms}-${seq + 1n}`;
}

/**
 * The insert de-duplication token of a batch: a hash of the stream and every id in it, so the same
 * entries retried (after a failed insert, or by an ingester that claimed them) give the same token
 * and ClickHouse drops the second copy; any other set of entries gives another token.
 */
export function batchToken(stream: string, ids: readonly string[]): string {
  const h = createHash('sha256').update(stream).update('\0');
  for (const id of ids) h.update(id).update(',');
  return `fw-ingest-${h.digest('hex').slice(0, 40)}`;
}

export interface GroupState {
  name: string;
  /** entries delivered but not acknowledged */
  pending: number;
  /** smallest pending id (from XPENDING), when pending > 0 */
  minPending: string | null;
  lastDelivered: string;
}

/**
 * The smallest id still needed by some group: XTRIM MINID with it removes only entries every group
 * has acknowledged. Null when there is no group (then nothing may be trimmed).
 */
export function safeTrimId(groups: readonly GroupState[]): string | null {
  let floor: string | null = null;
  for (const g of groups) {
    const needed = g.pending > 0 && g.minPending ? g.minPending : nextId(g.lastDelivered);
    if (floor === null || compareIds(needed, floor) < 0) floor = needed;
  }
  return floor;
}
