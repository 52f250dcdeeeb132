import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthzError } from '../../core/authorisation/store.ts';
import { ConfigError } from '../../core/config/load.ts';
import { FairwatchError } from '../../core/errors.ts';
import { UserError } from '../../core/identity/users.ts';
import { HoldError } from '../../core/privacy/holds.ts';
import { CommandFailure } from '../../cli/io.ts';
import { HttpError } from '../../dashboards/access.ts';

// Every error class of fairwatch's own extends FairwatchError: the CLI and the console map exit and
// HTTP statuses from it in one place each.

const ROOT = join(import.meta.dirname, '..', '..');

describe('FairwatchError', () => {
  it('names the class, keeps code, exit status and HTTP status', () => {
    const c = new ConfigError('config: bad');
    expect(c).toBeInstanceOf(FairwatchError);
    expect([c.name, c.code, c.exitCode, c.httpStatus]).toEqual(['ConfigError', 'FW_CONFIG', 2, undefined]);
    expect(String(c)).toBe('ConfigError: config: bad');
    const u = new UserError('FW_USER_EXISTS', 'exists');
    expect([u.name, u.exitCode, u.httpStatus]).toEqual(['UserError', 1, 409]);
    expect(new UserError('FW_USER_INVALID', 'bad').exitCode).toBe(2);
    expect([new HoldError('no such hold', 404).exitCode, new HoldError('reason needed').exitCode]).toEqual([1, 2]);
    expect(new AuthzError('FW_AUTHZ_BUSY', 'busy', 503).httpStatus).toBe(503);
    const h = new HttpError(429, 'slow down');
    expect([h.name, h.status, h.httpStatus]).toEqual(['HttpError', 429, 429]);
    expect([new CommandFailure('no', 2).exitCode, new CommandFailure('no').exitCode]).toEqual([2, 1]);
  });

  it('is the only class in the sources that extends Error directly', () => {
    const found: string[] = [];
    for (const area of ['core', 'proxy', 'analyser', 'dashboards', 'cli']) {
      for (const e of readdirSync(join(ROOT, area), { withFileTypes: true, recursive: true })) {
        if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
        const file = join(e.parentPath, e.name);
        for (const m of readFileSync(file, 'utf8').matchAll(/\bclass\s+(\w+)\s+extends\s+(\w*Error)\b/g)) {
          if (m[2] === 'Error' && m[1] !== 'FairwatchError') found.push(`${relative(ROOT, file)}: ${m[1]}`);
        }
      }
    }
    expect(found).toEqual([]);
  });
});
