import type { Store } from '../../core/storage/clickhouse.ts';

/** Whether this person accepted this version, from the lasting record in ClickHouse. */
export async function acceptedInStore(store: Store, userPseudonym: string, version: string): Promise<boolean> {
  const row = await store.one<{ n: number }>(
    `SELECT count() AS n FROM ${store.database}.aup_acceptances WHERE user_pseudonym = {p:String} AND version = {v:String}`,
    { p: userPseudonym, v: version });
  return Number(row?.n ?? 0) > 0;
}
