import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layering the code keeps: core/ is shared by the three parts and imports none of them (nor the
// CLI); proxy/, analyser/, dashboards/ and core/ never import cli/ (the CLI names the roles, not
// the other way round). Read from the source files themselves, so a new import that breaks it fails.

const ROOT = join(import.meta.dirname, '..', '..');
const AREAS = ['core', 'proxy', 'analyser', 'dashboards', 'cli'] as const;
type Area = (typeof AREAS)[number];

const FORBIDDEN: Record<Area, readonly Area[]> = {
  core: ['proxy', 'analyser', 'dashboards', 'cli'],
  proxy: ['cli'],
  analyser: ['cli'],
  dashboards: ['cli'],
  cli: [],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Module specifiers of static imports, re-exports and dynamic import() calls. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

function areaOf(path: string): Area | null {
  const top = relative(ROOT, path).split(sep)[0];
  return (AREAS as readonly string[]).includes(top!) ? (top as Area) : null;
}

function violations(): string[] {
  const found: string[] = [];
  for (const area of AREAS) {
    for (const file of sources(join(ROOT, area))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = areaOf(resolve(dirname(file), spec));
        if (target && FORBIDDEN[area].includes(target)) found.push(`${relative(ROOT, file)} imports ${spec} (${area}/ must not import ${target}/)`);
      }
    }
  }
  return found;
}

describe('import boundaries', () => {
  it('finds static, re-exported and dynamic imports', () => {
    expect(specifiers(`import { a } from '../cli/roles.ts';\nexport type { B } from "./b.ts";\nimport './side.ts';\nconst m = await import('../proxy/role.ts');`))
      .toEqual(['../cli/roles.ts', './b.ts', './side.ts', '../proxy/role.ts']);
  });

  it('core/ imports none of proxy/, analyser/, dashboards/, cli/; nothing but cli/ imports cli/', () => {
    expect(violations()).toEqual([]);
  });
});
