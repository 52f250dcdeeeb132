import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { FairwatchError } from '../errors.ts';

// Reports are stored sealed: each payload encrypted with AES-256-GCM under its own random data key,
// and that key wrapped (AES-256-GCM) by the report master key from data/keys. ClickHouse holds only
// ciphertext and metadata; opening needs the master key, which only the console process loads.

export interface SealedPayload {
  /** first 16 hex chars of SHA-256 of the master key: which key wrapped this one (rotation) */
  key_id: string;
  /** base64: iv(12) | tag(16) | wrapped data key(32) */
  wrapped_key: string;
  /** base64 */
  iv: string;
  /** base64 */
  tag: string;
  /** base64 */
  ciphertext: string;
}

export class SealError extends FairwatchError {
  constructor(message: string) {
    // a wrong or rotated key, or a changed byte: the report cannot be shown now
    super('FW_SEAL', message, { httpStatus: 503 });
  }
}

export function masterKeyId(masterKey: Buffer): string {
  return createHash('sha256').update(masterKey).digest('hex').slice(0, 16);
}

function gcmEncrypt(key: Buffer, plain: Buffer, aad: Buffer) {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { iv, tag: c.getAuthTag(), ct };
}

function gcmDecrypt(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, aad: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(aad);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

/** Seals `payload` (any bytes, usually JSON) bound to `reportId` (the id is authenticated data). */
export function sealReport(masterKey: Buffer, reportId: string, payload: Buffer | string): SealedPayload {
  const dataKey = randomBytes(32);
  const aad = Buffer.from(`fairwatch-report:${reportId}`);
  const body = gcmEncrypt(dataKey, Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'), aad);
  const wrap = gcmEncrypt(masterKey, dataKey, aad);
  dataKey.fill(0);
  return {
    key_id: masterKeyId(masterKey),
    wrapped_key: Buffer.concat([wrap.iv, wrap.tag, wrap.ct]).toString('base64'),
    iv: body.iv.toString('base64'),
    tag: body.tag.toString('base64'),
    ciphertext: body.ct.toString('base64'),
  };
}

/** Opens a sealed payload; throws SealError when the key is wrong or any byte was changed. */
export function openReport(masterKey: Buffer, reportId: string, sealed: SealedPayload): Buffer {
  const aad = Buffer.from(`fairwatch-report:${reportId}`);
  try {
    const w = Buffer.from(sealed.wrapped_key, 'base64');
    const dataKey = gcmDecrypt(masterKey, w.subarray(0, 12), w.subarray(12, 28), w.subarray(28), aad);
    try {
      return gcmDecrypt(dataKey, Buffer.from(sealed.iv, 'base64'), Buffer.from(sealed.tag, 'base64'), Buffer.from(sealed.ciphertext, 'base64'), aad);
    } finally {
      dataKey.fill(0);
    }
  } catch (e) {
    if (sealed.key_id !== masterKeyId(masterKey)) throw new SealError(`report ${reportId} was sealed under key ${sealed.key_id}, not the current report master key ${masterKeyId(masterKey)}`);
    throw new SealError(`report ${reportId} cannot be opened: ${(e as Error).message}`);
  }
}
