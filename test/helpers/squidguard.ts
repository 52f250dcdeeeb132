import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Debian's squidGuard as a batch decider, for differential tests: the list directory is copied into
// a temp folder, a squidGuard.conf written beside it (never /etc), and one squidGuard process reads
// Squid url_rewrite lines (`URL client/fqdn user method`) on stdin. squidGuard 1.6 answers in the
// newer helper protocol, one line per request in order: `OK rewrite-url="…"` when a category
// matched, `ERR` when it lets the request through. Plain-text lists (no -C): squidGuard loads them
// into in-memory databases at start, which for a few thousand entries takes milliseconds.

export const SQUIDGUARD_CANDIDATES = ['/usr/bin/squidGuard', '/usr/sbin/squidGuard'];

export function findSquidGuard(): string | null {
  return SQUIDGUARD_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export interface SquidGuardAnswer {
  blocked: boolean;
  /** the destination (category) squidGuard matched, when blocked */
  category: string | null;
}

/** Writes db/, log/ and squidGuard.conf under `workDir` with one destination per category, all blocked. */
export function prepareSquidGuard(listsDir: string, categories: string[], workDir: string): string {
  const db = join(workDir, 'db');
  const log = join(workDir, 'log');
  mkdirSync(log, { recursive: true });
  cpSync(listsDir, db, { recursive: true });
  const dests = categories.map((c) => {
    const lines = [`dest ${c} {`];
    for (const [kind, file] of [['domainlist', 'domains'], ['urllist', 'urls'], ['expressionlist', 'expressions']] as const) {
      if (existsSync(join(db, c, file))) lines.push(`  ${kind} ${c}/${file}`);
    }
    return [...lines, '}'].join('\n');
  });
  const conf = [
    `dbhome ${db}`,
    `logdir ${log}`,
    ...dests,
    'acl {',
    '  default {',
    `    pass ${categories.map((c) => `!${c}`).join(' ')} all`,
    '    redirect http://blocked.invalid/%t',
    '  }',
    '}',
    '',
  ].join('\n');
  const path = join(workDir, 'squidGuard.conf');
  writeFileSync(path, conf);
  return path;
}

/** Decides every URL (already in the form Squid sends: absolute, percent-encoded) in one squidGuard run. */
export function squidGuardDecide(binary: string, confPath: string, urls: string[], timeoutMs = 60_000): SquidGuardAnswer[] {
  for (const u of urls) if (/\s/.test(u)) throw new Error(`squidGuard input URL has white space: ${u}`);
  const input = urls.map((u) => `${u} 127.0.0.1/- - GET\n`).join('');
  const r = spawnSync(binary, ['-c', confPath], { input, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`squidGuard did not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`squidGuard exited with ${r.status}: ${r.stderr.slice(0, 2000)}`);
  const lines = r.stdout.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length !== urls.length) throw new Error(`squidGuard answered ${lines.length} lines for ${urls.length} URLs (stderr: ${r.stderr.slice(0, 2000)})`);
  return lines.map((line, i) => {
    if (line === 'ERR') return { blocked: false, category: null };
    const m = /^OK rewrite-url="http:\/\/blocked\.invalid\/([^"]*)"$/.exec(line);
    if (!m) throw new Error(`squidGuard answered "${line}" for ${urls[i]}`);
    return { blocked: true, category: m[1]! };
  });
}
