// Whether dist/ holds the build of the sources as they are now, and how to make it so. Plain
// JavaScript with no packages: bin/fairwatch, scripts/ensure-deps.mjs and the test setup use it
// before anything is built or installed.
//
// The check is a fingerprint of every build input's path, size and modification time (a stat per
// file, no reads), stored in dist/ by the build. Any edit, added, removed or renamed file, or a
// checkout that brings older files, changes it; unlike "dist newer than the sources", a restored
// older file or a deleted one cannot go unnoticed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = join(root, 'dist');
const stampFile = join(distDir, '.build-stamp');

/** Folders compiled into dist/ (tsconfig.build.json includes the same). */
const sourceDirs = ['core', 'cli', 'proxy', 'analyser', 'dashboards'];
/** Files whose change changes the output: compiler options, the compiler's version, this build. */
const configFiles = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json', 'scripts/build-state.mjs'];

/** Data files the compiled code reads beside itself (e.g. core/policy/never-inspect-health.txt): copied as they are. */
const ASSET = /\.txt$/;

function walk(dir, out, assets = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out, assets);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
    else if (ASSET.test(entry.name)) { out.push(path); assets.push(path); }
  }
  return assets;
}

/** True in a source checkout; false where only dist/ was shipped (the container image). */
export function haveSources() {
  return existsSync(join(root, 'cli', 'main.ts'));
}

export function sourceFingerprint() {
  const files = [];
  for (const dir of sourceDirs) walk(join(root, dir), files);
  for (const file of configFiles) if (existsSync(join(root, file))) files.push(join(root, file));
  files.sort();
  const hash = createHash('sha256');
  for (const file of files) {
    const st = statSync(file);
    hash.update(`${relative(root, file)}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

/** 'missing' (no complete build), 'stale' (sources changed since) or 'current'. */
export function buildState() {
  if (!existsSync(stampFile)) return 'missing';
  if (!haveSources()) return 'current';
  return readFileSync(stampFile, 'utf8').trim() === sourceFingerprint() ? 'current' : 'stale';
}

/**
 * Compiles the sources into dist/ with tsc (tsconfig.build.json), type errors included. The output
 * is written beside dist/ and moved into place at the end, and the fingerprint is taken before
 * compiling, so a failed build leaves no stamp and an edit made during the build is rebuilt next
 * time. Returns an error message, or null.
 */
export function build({ quiet = false } = {}) {
  let tsc;
  try {
    tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    return 'the TypeScript compiler is not installed: run `npm install` (with development packages) first';
  }
  const fingerprint = sourceFingerprint();
  const outDir = join(root, `dist.building-${process.pid}`);
  rmSync(outDir, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], {
    cwd: root, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8',
  });
  if (r.status !== 0) {
    rmSync(outDir, { recursive: true, force: true });
    const detail = quiet ? `\n${r.stdout ?? ''}${r.stderr ?? ''}` : ' (see above)';
    return `the build failed${r.error ? `: ${r.error.message}` : ''}${detail}`;
  }
  for (const dir of sourceDirs) {
    for (const asset of walk(join(root, dir), [])) {
      const to = join(outDir, relative(root, asset));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(asset, to);
    }
  }
  writeFileSync(join(outDir, '.build-stamp'), fingerprint + '\n');
  rmSync(distDir, { recursive: true, force: true });
  renameSync(outDir, distDir);
  return null;
}

/** Builds unless dist/ is current. Returns an error message, or null. */
export function ensureBuilt({ quiet = false, log = (m) => process.stderr.write(m) } = {}) {
  const state = buildState();
  if (state === 'current') return null;
  log(`fairwatch: building dist/ (${state === 'missing' ? 'not built yet' : 'sources changed'})…\n`);
  return build({ quiet });
}
