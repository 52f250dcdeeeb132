import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FairwatchError } from './errors.ts';

// Proxy workers and import worker threads start a module of their own in a new process or thread,
// which has no TypeScript loader: they always run the compiled JavaScript in dist/. Built, the
// caller is itself in dist/ and the module is its neighbour; run from the sources (the unit tests),
// the same module is looked up in dist/, which `npm test` builds first.

const projectRoot = join(import.meta.dirname, '..');

export class NotBuiltError extends FairwatchError {
  constructor(message: string) {
    super('FW_NOT_BUILT', message);
  }
}

/**
 * The file to start for `specifier` (a `./name.ts` path relative to the calling module, as in an
 * import): its compiled `.js`.
 */
export function compiledModulePath(callerUrl: string, specifier: string): string {
  const caller = fileURLToPath(callerUrl);
  const target = join(dirname(caller), specifier).replace(/\.ts$/, '.js');
  if (caller.endsWith('.js')) return target;
  const built = join(projectRoot, 'dist', relative(projectRoot, target));
  if (!existsSync(built)) throw new NotBuiltError(`${relative(projectRoot, built)} is missing: run \`npm run build\` first`);
  return built;
}
