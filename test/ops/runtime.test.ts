import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.ts';

// What production runs: the compiled build in dist/ (made by the global setup), on Node.js 24.

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'fairwatch');
const tmp = tempDir();
afterAll(() => tmp.cleanup());

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(suffix))
    .map((e) => join(e.parentPath, e.name));
}

/** An older Node.js on this machine (a Debian system one), if there is one. */
const OLD_NODE = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
  if (!existsSync(p)) return false;
  const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout;
  return Number(v.split('.')[0]) < 24;
});

describe('runtime', () => {
  it('the build has every product module and loads no TypeScript, tsx or esbuild', () => {
    const sources = ['core', 'cli', 'proxy', 'analyser', 'dashboards']
      .flatMap((d) => files(join(ROOT, d), '.ts'))
      .filter((f) => !f.endsWith('.test.ts'))
      .map((f) => relative(ROOT, f).replace(/\.ts$/, '.js'));
    expect(sources.length).toBeGreaterThan(100);
    const built = new Set(files(join(ROOT, 'dist'), '.js').map((f) => relative(join(ROOT, 'dist'), f)));
    expect(sources.filter((s) => !built.has(s))).toEqual([]);
    // data files the compiled code reads beside itself are in the build too
    const assets = ['core', 'cli', 'proxy', 'analyser', 'dashboards'].flatMap((d) => files(join(ROOT, d), '.txt')).map((f) => relative(ROOT, f));
    expect(assets).toContain('core/policy/never-inspect-health.txt');
    expect(assets.filter((a) => !existsSync(join(ROOT, 'dist', a)))).toEqual([]);
    const offending: string[] = [];
    for (const f of built) {
      const js = readFileSync(join(ROOT, 'dist', f), 'utf8');
      for (const m of js.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']([^"']+)["']/g)) {
        const spec = m[1]!;
        if (/\.ts$/.test(spec) || /^(tsx|esbuild|typescript)(\/|$)/.test(spec)) offending.push(`${f}: ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('the CLI, started by any Node.js, runs on Node.js 24 or newer', async () => {
    const r = spawnSync(process.execPath, [BIN, 'doctor'], { encoding: 'utf8', env: { ...process.env, FAIRWATCH_DATA_DIR: join(tmp.dir, 'a'), FAIRWATCH_CONFIG: '' }, timeout: 60_000 });
    expect(r.stdout).toMatch(/^node:\s+v(2[4-9]|[3-9]\d)\./m);
  });

  it.runIf(OLD_NODE !== undefined)('started by an older system Node.js, it runs again on the packaged one and passes signals on', async () => {
    const data = join(tmp.dir, 'b');
    const env = { ...process.env, FAIRWATCH_DATA_DIR: data, FAIRWATCH_CONFIG: '', FAIRWATCH_LOG_LEVEL: 'warn' };
    const doctor = spawnSync(OLD_NODE!, [BIN, 'doctor'], { encoding: 'utf8', env, timeout: 60_000 });
    expect(doctor.stdout).toMatch(new RegExp(`^node:\\s+v2[4-9]\\.\\S+ \\(${join(ROOT, 'node_modules')}/`, 'm'));
    // a long-running role under the launcher: SIGTERM to the launcher stops it cleanly (exit 0)
    const child = spawn(OLD_NODE!, [BIN, 'proxy'], { env: { ...env, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_DIAL_LOOPBACK_ONLY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`proxy not ready: ${out}`)), 60_000);
        child.stdout.on('data', () => { if (/Press Ctrl-C to stop/.test(out)) { clearTimeout(timer); resolve(); } });
        child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`proxy exited ${code}: ${out}`)); });
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
