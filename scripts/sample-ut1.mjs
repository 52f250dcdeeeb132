#!/usr/bin/env node
// Copies a small, deterministic subset of a UT1 blacklist directory into test/fixtures/ut1-sample
// for the squidGuard differential test (test/policy/squidguard-diff.test.ts). Run it again only to
// refresh the sample from a newer UT1 copy:
//   node scripts/sample-ut1.mjs /path/to/ut1 test/fixtures/ut1-sample
// Every n-th line of each file is taken, plus the lines whose shape the test is about (queries,
// percent-encoding, trailing slashes, short paths), so the sample keeps the lists' awkward cases.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  process.stderr.write('usage: node scripts/sample-ut1.mjs <ut1-dir> <out-dir>\n');
  process.exit(2);
}
const CATEGORIES = ['agressif', 'audio-video', 'gambling', 'games', 'hacking', 'malware', 'publicite', 'strict_redirector'];
const DOMAINS_PER_CATEGORY = 220;
const URLS_PER_CATEGORY = 110;
// entries the issue names, kept whatever the sampling picks
const MUST = /^(icqhackers\.ru|final4ever\.com\/forumdisplay\.php\?f=13|netninja\.com\/bo|top-lasvegas\.com\/en|downsbrasil\.net\/)/;

function sample(lines, n, special) {
  const keep = new Set();
  const step = Math.max(1, Math.floor(lines.length / n));
  for (let i = 0; i < lines.length && keep.size < n; i += step) keep.add(i);
  let extra = 0;
  lines.forEach((l, i) => {
    if (MUST.test(l)) keep.add(i);
    else if (special && special(l) && extra < n / 2 && !keep.has(i)) { keep.add(i); extra++; }
  });
  return [...keep].sort((a, b) => a - b).map((i) => lines[i]);
}

const readLines = (f) => readFileSync(f, 'utf8').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '' && !l.startsWith('#'));
const urlShape = (l) => l.includes('?') || l.includes('%') || l.endsWith('/') || /\/[^/]{1,3}$/.test(l);

mkdirSync(dst, { recursive: true });
for (const c of CATEGORIES) {
  mkdirSync(join(dst, c), { recursive: true });
  const d = join(src, c, 'domains');
  if (existsSync(d)) writeFileSync(join(dst, c, 'domains'), sample(readLines(d), DOMAINS_PER_CATEGORY).join('\n') + '\n');
  const u = join(src, c, 'urls');
  if (existsSync(u)) writeFileSync(join(dst, c, 'urls'), sample(readLines(u), URLS_PER_CATEGORY, urlShape).join('\n') + '\n');
  const e = join(src, c, 'expressions');
  if (existsSync(e)) copyFileSync(e, join(dst, c, 'expressions'));
}
for (const f of ['LICENSE.pdf', 'UPSTREAM-README.md']) if (existsSync(join(src, f))) copyFileSync(join(src, f), join(dst, f));
