import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../storage/clickhouse.ts';
import { MANIFEST, writeEvidencePack, type EvidenceManifest } from '../evidence/pack.ts';
import type { LegalHolds } from './holds.ts';
import { HoldError } from './holds.ts';

// The disclosure register: every set of records that left fairwatch for someone other than the
// organisation (a legal-hold evidence pack, a subject access export), with recipient, reference and
// legal basis. Append-only; people appear as pseudonyms.

export interface Disclosure {
  id: string;
  at: string;
  kind: 'legal-hold' | 'subject-access';
  holdId: string;
  recipient: string;
  reference: string;
  legalBasis: string;
  subjects: string[];
  from: string;
  to: string;
  rows: number;
  manifestSha256: string;
  actor: string;
}

export type NewDisclosure = Omit<Disclosure, 'id' | 'at'>;

export async function recordDisclosure(store: Store, d: NewDisclosure): Promise<Disclosure> {
  const row: Disclosure = { id: randomUUID(), at: new Date().toISOString(), ...d };
  await store.insert('disclosures', [{
    disclosure_id: row.id, ts: row.at, hold_id: row.holdId, kind: row.kind, recipient: row.recipient, reference: row.reference,
    legal_basis: row.legalBasis, subjects: row.subjects, period_from: row.from, period_to: row.to, rows: row.rows,
    manifest_sha256: row.manifestSha256, actor: row.actor,
  }]);
  return row;
}

export async function listDisclosures(store: Store): Promise<Disclosure[]> {
  const rows = await store.rows<Record<string, string | number | string[]>>(
    `SELECT toString(disclosure_id) AS id, toUnixTimestamp64Milli(ts) AS at, kind, hold_id, recipient, reference, legal_basis, subjects,
            toUnixTimestamp64Milli(period_from) AS f, toUnixTimestamp64Milli(period_to) AS t, rows, manifest_sha256, actor
     FROM ${store.database}.disclosures ORDER BY ts, disclosure_id`);
  return rows.map((r) => ({
    id: String(r.id), at: new Date(Number(r.at)).toISOString(), kind: r.kind as Disclosure['kind'], holdId: String(r.hold_id),
    recipient: String(r.recipient), reference: String(r.reference), legalBasis: String(r.legal_basis), subjects: r.subjects as string[],
    from: new Date(Number(r.f)).toISOString(), to: new Date(Number(r.t)).toISOString(), rows: Number(r.rows),
    manifestSha256: String(r.manifest_sha256), actor: String(r.actor),
  }));
}

const COLUMNS = ['time', 'event id', 'person', 'group', 'domain', 'path', 'status', 'category', 'action', 'bytes up', 'bytes down', 'file', 'flags'];

/**
 * Writes the signed evidence pack of an open hold into `outDir` and records the disclosure.
 * `nameOf` maps a pseudonym to the person's user name where the directory knows it: the pack goes
 * to the requesting body, who asked about named people.
 */
export async function discloseHold(opts: {
  store: Store; holds: LegalHolds; holdId: string; recipient?: string; actor: string; outDir: string;
  signingKey: { privateKeyPem: string; publicKeyPem: string };
  auditHead: { seq: number; hash: string } | null;
  nameOf: (pseudonym: string) => string | undefined;
}): Promise<{ manifest: EvidenceManifest; disclosure: Disclosure }> {
  const hold = await opts.holds.get(opts.holdId);
  if (!hold) throw new HoldError(`no legal hold ${opts.holdId}`, 404);
  if (hold.status !== 'open') throw new HoldError(`legal hold ${hold.id} is released: its records are no longer held`, 409);
  const events = await opts.holds.heldEvents(hold.id);
  const who = (p: string) => opts.nameOf(p) ?? `pseudonym ${p}`;
  const manifest = writeEvidencePack(opts.outDir, {
    investigation: {
      id: hold.id,
      subject: hold.subjects.map(who).join(', '),
      allegation: `legal hold: ${hold.requestingBody}, reference ${hold.reference}; legal basis: ${hold.legalBasis}`,
      from: hold.from, to: hold.to,
    },
    auditHead: opts.auditHead,
    columns: COLUMNS,
    rows: events.map((e) => [new Date(Number(e.t)).toISOString(), e.event_id, who(e.user_pseudonym), e.user_group, e.host, e.path, Number(e.status),
      e.category, e.action, Number(e.bytes_up), Number(e.bytes_down), e.filename, e.flags.join(' ')]),
    signingKey: opts.signingKey,
  });
  const manifestSha256 = createHash('sha256').update(readFileSync(join(opts.outDir, MANIFEST))).digest('hex');
  const disclosure = await recordDisclosure(opts.store, {
    kind: 'legal-hold', holdId: hold.id, recipient: opts.recipient?.trim() || hold.requestingBody, reference: hold.reference,
    legalBasis: hold.legalBasis, subjects: hold.subjects, from: hold.from, to: hold.to, rows: events.length, manifestSha256, actor: opts.actor,
  });
  return { manifest, disclosure };
}
