import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Evidence packs travel as one .tar.gz made and read by the system tar (spawned without a shell,
// so no path is ever interpreted by one).

function runTar(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`tar ${args.join(' ')}: exit ${code}: ${Buffer.concat(err).toString('utf8').trim()}`));
    });
  });
}

/** The directory's contents as a gzip-compressed tar (`tar -czf - -C dir .`). */
export const tarGzDirectory = (dir: string): Promise<Buffer> => runTar(['-czf', '-', '-C', dir, '.']);

export const isTarGz = (path: string) => /\.(tar\.gz|tgz)$/i.test(path);

/** Extracts `archive` into a fresh temp directory and runs `fn` on it; the directory is removed afterwards. */
export async function withExtractedPack<T>(archive: string, fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'fairwatch-evidence-check-'));
  try {
    // --no-same-owner/permissions: a pack from elsewhere must not set owners or modes here
    await runTar(['-xzf', archive, '-C', dir, '--no-same-owner', '--no-same-permissions']);
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
