import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ScimConfig } from '../config/schema.ts';
import { keysDir } from '../keys.ts';
import { FairwatchError } from '../errors.ts';

// The SCIM bearer token: the provider's directory holds the token, fairwatch only its SHA-256 (a
// 256-bit random token needs no slow hash), written by `fairwatch users scim-token`, or the token
// itself in an environment variable for deployments that keep secrets in a secret store. The
// comparison is of two fixed-length digests in constant time.

export class ScimTokenError extends FairwatchError {
  constructor(message: string) {
    super('FW_SCIM_TOKEN', message, { exitCode: 2 });
  }
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export const scimTokenHashPath = (dataDir: string, cfg: Pick<ScimConfig, 'tokenHashFile'>) => cfg.tokenHashFile ?? join(keysDir(dataDir), 'scim-token.sha256');

/** A new token (printed once) whose hash replaces any previous one in the hash file. */
export function issueScimToken(dataDir: string, cfg: Pick<ScimConfig, 'tokenHashFile'>): { token: string; path: string } {
  const token = randomBytes(32).toString('base64url');
  const path = scimTokenHashPath(dataDir, cfg);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `sha256:${digest(token).toString('hex')}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return { token, path };
}

export type ScimTokenCheck = (presented: string) => boolean;

/**
 * The check for presented tokens, or null when no token is configured. Read per call so a new
 * token from `users scim-token` takes effect without a restart.
 */
export function scimTokenSource(dataDir: string, cfg: Pick<ScimConfig, 'tokenEnv' | 'tokenHashFile'>, env: NodeJS.ProcessEnv = process.env): () => ScimTokenCheck | null {
  return () => {
    const fromEnv = env[cfg.tokenEnv];
    let want: Buffer;
    if (fromEnv) {
      if (fromEnv.length < 32) throw new ScimTokenError(`${cfg.tokenEnv}: the SCIM token must be at least 32 characters`);
      want = digest(fromEnv);
    } else {
      const path = scimTokenHashPath(dataDir, cfg);
      if (!existsSync(path)) return null;
      const text = readFileSync(path, 'utf8').trim();
      const m = /^sha256:([0-9a-f]{64})$/.exec(text);
      if (!m) throw new ScimTokenError(`${path}: expected "sha256:" and 64 hexadecimal characters (run \`fairwatch users scim-token\` to write a new one)`);
      want = Buffer.from(m[1]!, 'hex');
    }
    return (presented) => timingSafeEqual(digest(presented), want);
  };
}
