import type { Migration } from '../storage/migrations.ts';
import type { Store } from '../storage/clickhouse.ts';
import { createTable, type TableSpec } from '../storage/ddl.ts';

// Accounts from an OpenID provider are linked by (issuer, subject), the one pair OpenID Connect
// promises never to reuse for someone else; the email or user principal name may change or be
// reassigned. A linked record is found by that pair at every later sign-in, whatever its name.

export const externalAccountsTable: TableSpec = {
  name: 'external_accounts',
  columns: [
    ['issuer', 'String'],
    ['subject', 'String'],
    ['user_id', 'UUID'],
    ['provider_id', 'LowCardinality(String)'],
    ['created_at', "DateTime64(3, 'UTC')"],
  ],
  engine: 'ReplacingMergeTree(created_at)',
  orderBy: '(issuer, subject)',
};

export const EXTERNAL_ACCOUNTS_MIGRATION: Migration = {
  version: 60,
  name: 'external_accounts: OpenID Connect (issuer, subject) linked to a user',
  statements: (ctx) => createTable(ctx.db, externalAccountsTable, ctx.topology),
};

export class ExternalAccounts {
  constructor(private readonly store: Store) {}

  async userIdOf(issuer: string, subject: string): Promise<string | null> {
    const row = await this.store.one<{ user_id: string }>(
      `SELECT user_id FROM ${this.store.database}.external_accounts FINAL WHERE issuer = {i:String} AND subject = {s:String} LIMIT 1`,
      { i: issuer, s: subject });
    return row?.user_id ?? null;
  }

  /** Every link of one record (a provider's sign-in, or a SCIM mark whose issuer is scim:<provider>). */
  async linksOf(userId: string): Promise<Array<{ issuer: string; providerId: string }>> {
    const rows = await this.store.rows<{ issuer: string; provider_id: string }>(
      `SELECT issuer, provider_id FROM ${this.store.database}.external_accounts FINAL WHERE user_id = {u:UUID}`, { u: userId });
    return rows.map((r) => ({ issuer: r.issuer, providerId: r.provider_id }));
  }

  async link(input: { issuer: string; subject: string; userId: string; providerId: string }): Promise<void> {
    await this.store.insert('external_accounts', [{
      issuer: input.issuer, subject: input.subject, user_id: input.userId, provider_id: input.providerId, created_at: new Date().toISOString(),
    }]);
  }
}
