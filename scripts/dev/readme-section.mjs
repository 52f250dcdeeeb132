#!/usr/bin/env node
// Replaces the text between <!-- section:NAME --> and <!-- /section:NAME --> in README.md with the
// contents of FILE, under an exclusive lock so developers working in parallel never lose an edit.
//   flock /tmp/fairwatch-readme.lock node scripts/dev/readme-section.mjs NAME FILE
import { readFileSync, writeFileSync } from 'node:fs';
const [name, file] = process.argv.slice(2);
if (!name || !file) { console.error('usage: readme-section.mjs NAME FILE'); process.exit(2); }
const readme = readFileSync('README.md', 'utf8');
const open = `<!-- section:${name} -->`;
const close = `<!-- /section:${name} -->`;
const a = readme.indexOf(open);
const b = readme.indexOf(close);
if (a < 0 || b < a) { console.error(`README.md has no section ${name}`); process.exit(1); }
const body = readFileSync(file, 'utf8').trim();
writeFileSync('README.md', readme.slice(0, a + open.length) + '\n' + body + '\n' + readme.slice(b));
