import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Platform } from '../platform.ts';
import { keyPath, keysDir, loadKey, type KeyName } from '../keys.ts';
import { masterKeyId, openReport, type SealedPayload } from '../reports/seal.ts';
import { aupSetKey } from '../identity/aup.ts';
import { Pseudonymiser } from '../identity/pseudonym.ts';
import { storageTable } from '../storage/ddl.ts';
import { FairwatchError } from '../errors.ts';

// Key rotation, and what it means for data already stored:
//
// report-master: every report's data key is unwrapped with the old master key and wrapped again
//   with the new one (the report bodies are not touched). Afterwards only the new key opens any
//   report; the old one is kept in keys/retired/ until you delete it (after your next backup).
//   Crash-safe: the new key is written to report-master.key.next first; a second run after a crash
//   takes it up again, and rows already re-wrapped are skipped.
//
// pseudonym: new events get pseudonyms under the new key, old events keep theirs. The same person
//   therefore has two pseudonyms across the rotation date, so audits over a period spanning it see
//   two "people"; that unlinkability is the point of rotating. The old key is kept in
//   keys/retired/ so an investigation a director authorises can still look up a named person's
//   older events; delete it to make the old records permanently unlinkable.

export class RotationError extends FairwatchError {
  constructor(message: string) {
    super('FW_KEY_ROTATION', message);
  }
}

const ENV_NAME: Record<'pseudonym' | 'report-master', string> = {
  pseudonym: 'FAIRWATCH_PSEUDONYM_KEY',
  'report-master': 'FAIRWATCH_REPORT_MASTER_KEY',
};

export interface RotationResult {
  key: 'pseudonym' | 'report-master';
  oldKeyId: string;
  newKeyId: string;
  /** reports re-wrapped (report-master) */
  rewrapped: number;
  /** reports already under the new key (a resumed rotation) */
  alreadyNew: number;
  /** acceptable-use acceptances copied to the new pseudonyms (pseudonym) */
  acceptancesCarried: number;
  /** where the old key was kept (file keys only; keep an env key's old value in the secret store) */
  retiredAt: string | null;
  /** the key came from an environment variable: the caller must tell the operator to change it */
  fromEnv: boolean;
}

function retire(dataDir: string, name: KeyName, key: Buffer): string {
  const dir = join(keysDir(dataDir), 'retired');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = join(dir, `${name}-${masterKeyId(key)}-${new Date().toISOString().replace(/[:.]/g, '-')}.key`);
  writeFileSync(path, key.toString('hex') + '\n', { mode: 0o600 });
  return path;
}

function parseHexKey(text: string, what: string): Buffer {
  const t = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) throw new RotationError(`${what}: expected 64 hexadecimal characters (32 bytes)`);
  return Buffer.from(t, 'hex');
}

/**
 * Rotates `name`. With the key in a file, the new key is made here; with it in an environment
 * variable, `newKeyHex` must be given (generate it in your secret store) and the caller prints
 * what to change.
 */
export async function rotateKey(p: Platform, name: 'pseudonym' | 'report-master', newKeyHex?: string): Promise<RotationResult> {
  const dataDir = p.runtime.dataDir;
  const fromEnv = Boolean(p.env[ENV_NAME[name]]);
  const oldKey = loadKey(dataDir, name, p.env);
  const nextPath = `${keyPath(dataDir, name)}.next`;
  let newKey: Buffer;
  if (fromEnv) {
    if (!newKeyHex) throw new RotationError(`${name}: the key comes from ${ENV_NAME[name]}; give the new key on standard input (--new-key-stdin), then put it in ${ENV_NAME[name]}`);
    newKey = parseHexKey(newKeyHex, 'new key');
  } else if (existsSync(nextPath)) {
    newKey = parseHexKey(readFileSync(nextPath, 'utf8'), nextPath); // resuming an interrupted rotation
  } else {
    newKey = newKeyHex ? parseHexKey(newKeyHex, 'new key') : randomBytes(32);
    writeFileSync(nextPath, newKey.toString('hex') + '\n', { mode: 0o600 });
  }
  if (newKey.equals(oldKey)) throw new RotationError(`${name}: the new key is the current key`);
  const result: RotationResult = {
    key: name, oldKeyId: masterKeyId(oldKey), newKeyId: masterKeyId(newKey), rewrapped: 0, alreadyNew: 0, acceptancesCarried: 0, retiredAt: null, fromEnv,
  };
  if (name === 'report-master') {
    const r = await rewrapReports(p, oldKey, newKey);
    result.rewrapped = r.rewrapped;
    result.alreadyNew = r.alreadyNew;
  } else {
    result.acceptancesCarried = await carryAupAcceptances(p, new Pseudonymiser(oldKey), new Pseudonymiser(newKey));
  }
  if (!fromEnv) {
    result.retiredAt = retire(dataDir, name, oldKey);
    renameSync(nextPath, keyPath(dataDir, name));
  }
  return result;
}

/**
 * People who accepted the acceptable-use statement keep their acceptance: for every name fairwatch
 * knows (the user directory and identity.ipUsers) the acceptance rows are copied under the new
 * pseudonym (the old rows stay: the record is append-only), and the proxy's Redis gate is updated.
 * Anyone else (e.g. guests) is asked to accept again.
 */
async function carryAupAcceptances(p: Platform, oldP: Pseudonymiser, newP: Pseudonymiser): Promise<number> {
  const names = new Set<string>([...(await p.users.list()).map((u) => u.username), ...Object.values(p.config.identity.ipUsers)]);
  const olds: string[] = [];
  const news: string[] = [];
  for (const n of names) {
    olds.push(oldP.user(n));
    news.push(newP.user(n));
  }
  if (olds.length === 0) return 0;
  const store = p.store;
  // (the alias must not be user_pseudonym: ClickHouse would use it in WHERE too)
  const found = await store.rows<{ ts: string; new_pseudonym: string; version: string; client_pseudonym: string }>(
    `SELECT ts, transform(user_pseudonym, {olds:Array(String)}, {news:Array(String)}, '') AS new_pseudonym, version, client_pseudonym
     FROM ${store.database}.aup_acceptances WHERE has({olds:Array(String)}, user_pseudonym)`, { olds, news });
  const rows = found.map((r) => ({ ts: r.ts, user_pseudonym: r.new_pseudonym, version: r.version, client_pseudonym: r.client_pseudonym }));
  await store.insert('aup_acceptances', rows, `key-rotation:${news[0]}`);
  if (p.redis) {
    for (const r of rows) await p.redis.sadd(aupSetKey(r.version), r.user_pseudonym);
  }
  return rows.length;
}

interface ReportRow extends SealedPayload { report_id: string }

/** Re-wraps every report's data key from `oldKey` to `newKey` in one mutation. */
export async function rewrapReports(p: Platform, oldKey: Buffer, newKey: Buffer): Promise<{ rewrapped: number; alreadyNew: number }> {
  const store = p.store;
  const oldId = masterKeyId(oldKey);
  const newId = masterKeyId(newKey);
  const rows = await store.rows<ReportRow>(
    `SELECT toString(report_id) AS report_id, key_id, wrapped_key, iv, tag, ciphertext FROM ${store.database}.reports`);
  const ids: string[] = [];
  const wrapped: string[] = [];
  let alreadyNew = 0;
  for (const r of rows) {
    if (r.key_id === newId) {
      alreadyNew++;
      continue;
    }
    if (r.key_id !== oldId) throw new RotationError(`report ${r.report_id} is sealed under key ${r.key_id}, neither the current (${oldId}) nor the new one; nothing was changed`);
    wrapped.push(rewrapDataKey(oldKey, newKey, r));
    ids.push(r.report_id);
  }
  if (ids.length > 0) {
    const table = storageTable('reports', p.topology);
    const onCluster = p.topology.kind === 'cluster' ? ` ON CLUSTER '${p.topology.cluster}'` : '';
    // One synchronous mutation: either every listed row has its new wrapped key, or none (a crash
    // leaves them on the old key, and the .next key file lets the command be run again).
    await store.command(
      `ALTER TABLE ${store.database}.${table}${onCluster} UPDATE key_id = {newId:String},
         wrapped_key = transform(toString(report_id), {ids:Array(String)}, {wrapped:Array(String)}, wrapped_key)
       WHERE key_id = {oldId:String} AND has({ids:Array(String)}, toString(report_id))`,
      { newId, oldId, ids, wrapped }, { mutations_sync: '2' });
  }
  return { rewrapped: ids.length, alreadyNew };
}

/**
 * The data key of one report wrapped under `newKey`, in the envelope layout of core/reports/seal.ts
 * (iv | tag | wrapped key, the report id as authenticated data). Checked before it is written: the
 * old envelope and the new one must open (openReport) to the same content.
 */
function rewrapDataKey(oldKey: Buffer, newKey: Buffer, row: ReportRow): string {
  const aad = Buffer.from(`fairwatch-report:${row.report_id}`);
  const w = Buffer.from(row.wrapped_key, 'base64');
  const d = createDecipheriv('aes-256-gcm', oldKey, w.subarray(0, 12));
  d.setAAD(aad);
  d.setAuthTag(w.subarray(12, 28));
  const dataKey = Buffer.concat([d.update(w.subarray(28)), d.final()]);
  try {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', newKey, iv);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(dataKey), c.final()]);
    const rewrapped = Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
    const before = openReport(oldKey, row.report_id, row);
    const after = openReport(newKey, row.report_id, { ...row, key_id: masterKeyId(newKey), wrapped_key: rewrapped });
    if (!before.equals(after)) throw new RotationError(`report ${row.report_id}: re-wrapped envelope does not open to the same content`);
    return rewrapped;
  } finally {
    dataKey.fill(0);
  }
}
