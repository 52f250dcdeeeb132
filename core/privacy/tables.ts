import type { Migration } from '../storage/migrations.ts';
import { createTable, type TableSpec } from '../storage/ddl.ts';
import { eventsTable, reportsTable } from '../storage/tables.ts';

// Tables of the privacy duties. Legal holds work by copying: while a hold is open the
// matching events and reports also live in held_events / held_reports, which have no TTL, so the
// retention TTL of `events` and `reports` stays a plain expression the engine applies at merges and
// a held row outlives its deleted neighbours. Releasing a hold deletes its copies. The register
// tables are append-only; people appear as pseudonyms only.

const eventColumns = eventsTable(1).columns;
const reportColumns = reportsTable(1).columns;

export const heldEventsTable: TableSpec = {
  name: 'held_events',
  columns: [['hold_id', 'UUID'], ...eventColumns],
  // never a TTL: the copy is what survives retention
  engine: 'MergeTree',
  orderBy: '(hold_id, user_pseudonym, ts)',
};

export const heldReportsTable: TableSpec = {
  name: 'held_reports',
  columns: [['hold_id', 'UUID'], ...reportColumns],
  engine: 'MergeTree',
  orderBy: '(hold_id, created_at, report_id)',
};

/** One row when a hold is opened, one when it is released (latest row per hold_id is its state). */
export const legalHoldsTable: TableSpec = {
  name: 'legal_holds',
  columns: [
    ['hold_id', 'UUID'],
    ['ts', "DateTime64(3, 'UTC')"],
    /** open | release */
    ['kind', 'LowCardinality(String)'],
    ['requesting_body', 'String'],
    ['reference', 'String'],
    ['legal_basis', 'String'],
    /** pseudonyms of the people in scope */
    ['subjects', 'Array(String)'],
    ['period_from', "DateTime64(3, 'UTC')"],
    ['period_to', "DateTime64(3, 'UTC')"],
    /** console user_id, or `cli` */
    ['actor', 'String'],
    ['note', 'String'],
    ['held_events', 'UInt64'],
    ['held_reports', 'UInt64'],
  ],
  engine: 'MergeTree',
  orderBy: '(hold_id, ts)',
};

/** The disclosure register: every pack handed to a third party, with its basis. */
export const disclosuresTable: TableSpec = {
  name: 'disclosures',
  columns: [
    ['disclosure_id', 'UUID'],
    ['ts', "DateTime64(3, 'UTC')"],
    /** the hold it came from, or empty for a subject access export */
    ['hold_id', 'String'],
    /** legal-hold | subject-access */
    ['kind', 'LowCardinality(String)'],
    ['recipient', 'String'],
    ['reference', 'String'],
    ['legal_basis', 'String'],
    /** pseudonyms of the people whose records went out */
    ['subjects', 'Array(String)'],
    ['period_from', "DateTime64(3, 'UTC')"],
    ['period_to', "DateTime64(3, 'UTC')"],
    ['rows', 'UInt64'],
    /** SHA-256 of the signed manifest (or of the export's index) */
    ['manifest_sha256', 'String'],
    ['actor', 'String'],
  ],
  engine: 'MergeTree',
  orderBy: '(ts, disclosure_id)',
};

export const PRIVACY_MIGRATION: Migration = {
  version: 50,
  name: 'privacy duties: legal holds, held copies of events and reports (no TTL), disclosure register',
  statements: (ctx) => [heldEventsTable, heldReportsTable, legalHoldsTable, disclosuresTable].flatMap((s) => createTable(ctx.db, s, ctx.topology)),
};
