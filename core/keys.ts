import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FairwatchError } from './errors.ts';

// Secrets live outside ClickHouse: files in $FAIRWATCH_DATA_DIR/keys (directory 0700, files 0600),
// created on first start, or given by environment variables for deployments that keep them in a
// secret store. Their values are never logged.

export type KeyName = 'pseudonym' | 'report-master' | 'page-token' | 'redis-password';

const ENV: Record<KeyName, string> = {
  pseudonym: 'FAIRWATCH_PSEUDONYM_KEY',
  'report-master': 'FAIRWATCH_REPORT_MASTER_KEY',
  'page-token': 'FAIRWATCH_PAGE_TOKEN_KEY',
  // the managed redis-server's requirepass (its hex form is the password)
  'redis-password': 'FAIRWATCH_REDIS_PASSWORD_KEY',
};

export const keysDir = (dataDir: string) => join(dataDir, 'keys');
export const keyPath = (dataDir: string, name: KeyName) => join(keysDir(dataDir), `${name}.key`);

export class KeyError extends FairwatchError {
  constructor(message: string) {
    super('FW_KEY', message);
  }
}

function ensureDir(dataDir: string): string {
  const dir = keysDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** A 32-byte symmetric key, from its env variable (64 hex chars) or its key file (created if absent). */
export function loadKey(dataDir: string, name: KeyName, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env[ENV[name]];
  if (fromEnv) {
    if (!/^[0-9a-fA-F]{64}$/.test(fromEnv)) throw new KeyError(`${ENV[name]}: expected 64 hexadecimal characters (32 bytes)`);
    return Buffer.from(fromEnv, 'hex');
  }
  ensureDir(dataDir);
  const path = keyPath(dataDir, name);
  if (!existsSync(path)) {
    try {
      writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process created it first
    }
  }
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/i.test(text)) throw new KeyError(`${path}: not a key file (expected 64 hexadecimal characters)`);
  return Buffer.from(text, 'hex');
}

export function keyPresent(dataDir: string, name: KeyName, env: NodeJS.ProcessEnv = process.env): { present: boolean; source: string; modeOk: boolean } {
  if (env[ENV[name]]) return { present: true, source: `env ${ENV[name]}`, modeOk: true };
  const path = keyPath(dataDir, name);
  if (!existsSync(path)) return { present: false, source: path, modeOk: true };
  return { present: true, source: path, modeOk: (statSync(path).mode & 0o077) === 0 };
}

/** The Ed25519 key pair that signs evidence packs (PEM files in keys/). */
export function loadSigningKey(dataDir: string): { privateKeyPem: string; publicKeyPem: string } {
  const dir = ensureDir(dataDir);
  const priv = join(dir, 'evidence-ed25519.pem');
  const pub = join(dir, 'evidence-ed25519.pub.pem');
  if (!existsSync(priv)) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(priv, privateKey, { mode: 0o600 });
    writeFileSync(pub, publicKey, { mode: 0o644 });
  }
  return { privateKeyPem: readFileSync(priv, 'utf8'), publicKeyPem: readFileSync(pub, 'utf8') };
}

export const ALL_KEYS: KeyName[] = ['pseudonym', 'report-master', 'page-token', 'redis-password'];

export function ensureKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): void {
  for (const k of ALL_KEYS) loadKey(dataDir, k, env);
}
