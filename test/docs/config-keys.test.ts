// The configuration reference names every key the schema accepts: a key added to the schema without
// a line in docs/operators/configure.md fails here, so operators never meet an undocumented key.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { configSchema } from '../../core/config/schema.ts';

const reference = readFileSync(resolve(import.meta.dirname, '../../docs/operators/configure.md'), 'utf8');

/** Dotted paths of every key, down to the first value that is not an object (lists and maps are one key). */
function keysOf(schema: z.ZodType, prefix: string): string[] {
  let s: z.ZodType = schema;
  // defaults, prefaults and optionals wrap the object whose keys we want
  for (let i = 0; i < 10 && s instanceof z.ZodType; i++) {
    const def = s._zod.def as { type: string; innerType?: z.ZodType };
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable'].includes(def.type)) s = def.innerType;
    else break;
  }
  if (!(s instanceof z.ZodObject)) return [prefix];
  return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => keysOf(v, prefix ? `${prefix}.${k}` : k));
}

describe('configuration reference', () => {
  const keys = keysOf(configSchema, '');

  it('walks the whole schema', () => {
    expect(keys).toContain('organisation.name');
    expect(keys).toContain('console.smtp.summaryTo');
    expect(keys).toContain('policy.time.bankHolidays');
    expect(keys.length).toBeGreaterThan(100);
  });

  it('names every key the schema accepts in docs/operators/configure.md', () => {
    const missing = keys.filter((k) => !reference.includes('`' + k + '`'));
    expect(missing).toEqual([]);
  });
});
