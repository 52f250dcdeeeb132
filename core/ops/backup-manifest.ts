import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FairwatchError } from '../errors.ts';

// What a backup directory holds, described by manifest.json, and the check that it is whole before
// a restore touches anything. Every file is listed with its SHA-256, so a truncated copy or a
// changed byte is named rather than half-restored.

export const MANIFEST = 'manifest.json';
export const FORMAT = 'fairwatch-backup';

export interface TableEntry {
  /** the logical table name (the Distributed one in a cluster) */
  name: string;
  engine: string;
  rows: number;
  /** columns in file order, with their types */
  columns: Array<[string, string]>;
  file: string;
  sha256: string;
}

export interface FileEntry {
  file: string;
  sha256: string;
}

export interface BackupManifest {
  format: typeof FORMAT;
  version: 1;
  created_at: string;
  database: string;
  clickhouse_version: string;
  topology: 'single' | 'cluster';
  /** migration versions the source had applied */
  migrations: number[];
  tables: TableEntry[];
  redis: (FileEntry & { keys: number }) | null;
  /** key files (pseudonym, report-master, …, and the organisation CA under ca/); a key from an environment variable is not here */
  keys: Array<FileEntry & { name: string }>;
  /** keys the source took from environment variables: not in the backup, keep them in your secret store */
  keys_from_env: string[];
  /** bytes in the disk spool at backup time (events not yet in Redis, not in this backup) */
  spool_bytes: number;
}

export class BackupError extends FairwatchError {
  constructor(message: string) {
    super('FW_BACKUP', message);
  }
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

/** Reads manifest.json and checks every listed file; throws naming the first problem. */
export async function verifyBackup(dir: string): Promise<BackupManifest> {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) throw new BackupError(`${dir}: not a fairwatch backup (no ${MANIFEST})`);
  let m: BackupManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as BackupManifest;
  } catch (e) {
    throw new BackupError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== FORMAT || m.version !== 1) throw new BackupError(`${path}: format ${String(m.format)} version ${String(m.version)} is not one this fairwatch reads (${FORMAT} 1)`);
  const files: FileEntry[] = [...m.tables, ...m.keys, ...(m.redis ? [m.redis] : [])];
  for (const f of files) {
    if (f.file.includes('/') && !f.file.startsWith('keys/') && !f.file.startsWith('ca/')) throw new BackupError(`${path}: unexpected file path ${f.file}`);
    if (f.file.includes('..')) throw new BackupError(`${path}: unexpected file path ${f.file}`);
    const p = join(dir, f.file);
    if (!existsSync(p)) throw new BackupError(`${p}: missing (listed in ${MANIFEST})`);
    const sum = await sha256File(p);
    if (sum !== f.sha256) throw new BackupError(`${p}: checksum does not match ${MANIFEST} (the file was changed or copied incompletely)`);
  }
  return m;
}
