// Staff pages: what a block page and an HTTPS block page cost the proxy.
//   node --import tsx bench/pages.ts
// Baselines measured in the same run: the short block page (core/pages/short.ts, a blocked CONNECT
// without a CA) for the full staff page, and a cached leaf certificate for a freshly minted one. Short runs:
// numbers from a shared, busy machine are indicative only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../core/config/load.ts';
import { PageTokens } from '../core/identity/page-token.ts';
import { StaffPages } from '../core/pages/index.ts';
import { createCa } from '../core/tls/ca.ts';
import { LeafMinter } from '../core/tls/leaf.ts';
import { shortBlockPage } from '../core/pages/short.ts';

function time(label: string, n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(200, n); i++) fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label.padEnd(46)} ${us.toFixed(1).padStart(9)} µs/op`);
  return us;
}

const config = parseConfig(`policy: { categoryLabels: { gambling: Gambling } }`, 'bench.yaml');
const pages = new StaffPages(config, new PageTokens(Buffer.alloc(32, 1)), 'http://127.0.0.1:8080');
const decision = { action: 'block' as const, category: 'gambling', rule: 'rule:1', reason: 'Gambling sites are never acceptable.' };
const ev = (i: number) => ({ eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, at: new Date(), url: `http://bet${i % 50}.example/spin`, host: `bet${i % 50}.example`, userPseudonym: '0123456789abcdef', group: 'staff' });

console.log('block page (rendered per blocked request)');
const base = time('  baseline: short block page', 20_000, (i) => shortBlockPage(ev(i).host, decision.reason, ev(i).eventId));
const staff = time('  staff block page (+2 signed tokens, CSP)', 20_000, (i) => pages.block(ev(i), decision));
console.log(`  ratio staff/minimal: ${(staff / base).toFixed(1)}×`);

console.log('HTTPS block page certificate (per blocked host)');
const dir = mkdtempSync(join(tmpdir(), 'fw-bench-'));
const minter = new LeafMinter(createCa(dir, { organisation: 'Bench' }), 10_000);
const cached = (() => { minter.leafFor('cached.example'); return time('  baseline: cached leaf (LRU hit)', 20_000, () => minter.leafFor('cached.example')); })();
const mint = time('  mint a new leaf (forge builds, OpenSSL signs)', 40, (i) => minter.leafFor(`host${i}-${Date.now()}.example`));
console.log(`  ratio mint/cached: ${(mint / cached).toFixed(0)}×  (${(1000 / mint * 1000).toFixed(0)} new hosts/s per worker)`);
rmSync(dir, { recursive: true, force: true });
