import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toCsv } from '../reports/csv.ts';
import type { Cell } from '../reports/model.ts';

// An evidence pack for an investigation: the subject's records in scope as CSV and JSON, and a
// manifest with the SHA-256 of each file and the audit-chain head at export time, signed with the
// installation's Ed25519 key (data/keys/evidence-ed25519.pem). Anyone holding the public key can
// check that no byte changed since export; the audit-chain head ties the pack to the access log.

export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.sig';

export interface EvidenceManifest {
  format: 'fairwatch-evidence-1';
  created: string;
  investigation: { id: string; subject: string; allegation: string; from: string; to: string };
  audit_head: { seq: number; hash: string } | null;
  files: Array<{ name: string; bytes: number; sha256: string }>;
  /** SPKI PEM of the signing key (verification also compares it with the installation's key) */
  public_key: string;
  public_key_sha256: string;
}

export interface EvidenceInput {
  investigation: EvidenceManifest['investigation'];
  auditHead: { seq: number; hash: string } | null;
  columns: string[];
  rows: Cell[][];
  signingKey: { privateKeyPem: string; publicKeyPem: string };
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const keyFingerprint = (publicKeyPem: string) => sha256(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }));

/** Writes the pack into `dir` (created; must not already hold a pack). Returns the manifest. */
export function writeEvidencePack(dir: string, input: EvidenceInput): EvidenceManifest {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, MANIFEST))) throw new Error(`${dir} already holds an evidence pack; choose a new directory`);
  const files: Record<string, string> = {
    'events.csv': toCsv({ columns: input.columns, rows: input.rows }),
    'events.json': JSON.stringify({ investigation: input.investigation, columns: input.columns, rows: input.rows }, null, 1) + '\n',
  };
  const manifest: EvidenceManifest = {
    format: 'fairwatch-evidence-1',
    created: new Date().toISOString(),
    investigation: input.investigation,
    audit_head: input.auditHead,
    files: Object.entries(files).map(([name, text]) => ({ name, bytes: Buffer.byteLength(text), sha256: sha256(text) })),
    public_key: input.signingKey.publicKeyPem,
    public_key_sha256: keyFingerprint(input.signingKey.publicKeyPem),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 1) + '\n');
  writeFileSync(join(dir, MANIFEST), manifestBytes, { mode: 0o600 });
  const sig = sign(null, manifestBytes, createPrivateKey(input.signingKey.privateKeyPem));
  writeFileSync(join(dir, SIGNATURE), sig.toString('base64') + '\n', { mode: 0o600 });
  return manifest;
}

export type VerifyOutcome =
  | { ok: true; files: number; manifest: EvidenceManifest; keyMatchesInstallation: boolean | null }
  | { ok: false; problem: string };

/** Checks a pack given its directory or its manifest file. `trustedPublicKeyPem`: the installation's key, when known. */
export function verifyEvidencePack(path: string, trustedPublicKeyPem: string | null): VerifyOutcome {
  const dir = existsSync(path) && statSync(path).isDirectory() ? path : dirname(path);
  const manifestPath = existsSync(path) && statSync(path).isDirectory() ? join(path, MANIFEST) : path;
  if (!existsSync(manifestPath)) return { ok: false, problem: `${manifestPath}: no manifest (expected ${MANIFEST} in the pack directory)` };
  if (basename(manifestPath) !== MANIFEST) return { ok: false, problem: `${path}: give the pack directory or its ${MANIFEST}` };
  const sigPath = join(dir, SIGNATURE);
  if (!existsSync(sigPath)) return { ok: false, problem: `${sigPath}: signature missing` };
  const manifestBytes = readFileSync(manifestPath);
  let manifest: EvidenceManifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as EvidenceManifest;
  } catch (e) {
    return { ok: false, problem: `${manifestPath}: not JSON (${(e as Error).message})` };
  }
  if (manifest.format !== 'fairwatch-evidence-1' || !Array.isArray(manifest.files) || typeof manifest.public_key !== 'string') {
    return { ok: false, problem: `${manifestPath}: not a fairwatch evidence manifest` };
  }
  const keyPem = trustedPublicKeyPem ?? manifest.public_key;
  let good: boolean;
  try {
    good = verify(null, manifestBytes, createPublicKey(keyPem), Buffer.from(readFileSync(sigPath, 'utf8').trim(), 'base64'));
  } catch (e) {
    return { ok: false, problem: `${sigPath}: signature cannot be checked (${(e as Error).message})` };
  }
  if (!good) {
    return { ok: false, problem: trustedPublicKeyPem && keyFingerprint(trustedPublicKeyPem) !== manifest.public_key_sha256
      ? `${MANIFEST}: not signed by this installation's evidence key (signed by ${manifest.public_key_sha256.slice(0, 16)}…)`
      : `${MANIFEST}: signature does not match (the manifest was changed after signing)` };
  }
  for (const f of manifest.files) {
    const p = join(dir, basename(f.name));
    if (!existsSync(p)) return { ok: false, problem: `${f.name}: missing from the pack` };
    const data = readFileSync(p);
    if (data.length !== f.bytes || sha256(data) !== f.sha256) return { ok: false, problem: `${f.name}: SHA-256 does not match the manifest (the file was changed)` };
  }
  return { ok: true, files: manifest.files.length, manifest, keyMatchesInstallation: trustedPublicKeyPem ? true : null };
}
