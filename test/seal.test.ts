import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openReport, sealReport } from '../core/reports/seal.ts';

describe('sealed reports', () => {
  const key = randomBytes(32);
  const id = randomUUID();
  const payload = JSON.stringify({ top: [{ host: 'secret-site.example', category: 'gambling' }] });

  it('round-trips and hides host names and categories', () => {
    const s = sealReport(key, id, payload);
    expect(openReport(key, id, s).toString()).toBe(payload);
    const stored = JSON.stringify(s);
    expect(stored).not.toMatch(/secret-site|gambling/);
    expect(Buffer.from(s.ciphertext, 'base64').toString('latin1')).not.toMatch(/secret-site|gambling/);
  });

  it('refuses another key, another report id, and any changed byte', () => {
    const s = sealReport(key, id, payload);
    expect(() => openReport(randomBytes(32), id, s)).toThrow(/sealed under key/);
    expect(() => openReport(key, randomUUID(), s)).toThrow(/cannot be opened/);
    const ct = Buffer.from(s.ciphertext, 'base64');
    ct[3] = ct[3]! ^ 1;
    expect(() => openReport(key, id, { ...s, ciphertext: ct.toString('base64') })).toThrow(/cannot be opened/);
  });
});
