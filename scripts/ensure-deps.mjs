#!/usr/bin/env node
// Installs what a fresh machine lacks before `npm run up`, `npm test` or `npm run bench` run:
// npm packages (when node_modules is missing or older than package-lock.json), the build in dist/
// (when missing or the sources changed since) and the Debian packages the chosen task needs. Plain
// JavaScript on purpose: it runs before anything is installed, possibly on an older system Node.js
// (npm installs Node.js 24 as a package; npm scripts then find it first on PATH).
//
//   node scripts/ensure-deps.mjs            # for `up`: npm packages + build + redis-server
//   node scripts/ensure-deps.mjs --test     # also chromium, curl (browser and client tests) and squidguard
//                                           # (the differential test of list matching), clamav-daemon
//                                           # (virus scanning tests) and slapd with ldap-utils
//                                           # (directory sign-in tests)
//   node scripts/ensure-deps.mjs --bench    # also squid, wrk, sarg
//   node scripts/ensure-deps.mjs --no-build # npm packages only (type check)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));

function fail(message) {
  process.stderr.write(`fairwatch: ${message}\n`);
  process.exit(1);
}

const MIN_NODE = 24;
const [major] = process.versions.node.split('.').map(Number);
if (major < 18) fail(`Node.js ${process.versions.node} is too old even to install fairwatch: install Node.js ${MIN_NODE}.`);

function run(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, ...opts });
  return r.status === 0;
}

function onPath(bin) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    if (dir && existsSync(join(dir, bin))) return true;
  }
  return false;
}

// --- npm packages -------------------------------------------------------------------------
const lockPath = join(root, 'package-lock.json');
const stampPath = join(root, 'node_modules', '.fairwatch-deps');
const currentLockHash = () => existsSync(lockPath)
  ? createHash('sha256').update(readFileSync(lockPath)).digest('hex')
  : 'no-lock';
const lockHash = currentLockHash();
const installed = existsSync(stampPath) ? readFileSync(stampPath, 'utf8').trim() : '';
if (installed !== lockHash) {
  process.stderr.write('fairwatch: installing npm packages (first run or package-lock.json changed)…\n');
  // `npm install` rather than `npm ci`: it follows the lock file too, and npm ci refuses a lock
  // that lacks other platforms' optional packages (chdb ships one engine package per platform).
  const ok = run('npm', ['install', '--no-audit', '--no-fund']);
  if (!ok) fail('npm could not install the packages (see above). Check the registry is reachable, then run the command again.');
  writeFileSync(stampPath, currentLockHash() + '\n');
}

// --- Node.js -------------------------------------------------------------------------------
// On Linux x64 and arm64 npm has just installed Node.js as an optional package (node-linux-*);
// elsewhere the system's own must be new enough.
const packagedNode = join(root, 'node_modules', '.bin', 'node');
if (major < MIN_NODE && !existsSync(packagedNode)) {
  fail(`Node.js ${process.versions.node} is too old and npm has no Node.js package for ${process.platform}-${process.arch}: install Node.js ${MIN_NODE} or newer.`);
}

// --- build -------------------------------------------------------------------------------
if (!args.has('--no-build')) {
  const { ensureBuilt } = await import('./build-state.mjs');
  const error = ensureBuilt();
  if (error) fail(error);
}

// --- Debian packages ---------------------------------------------------------------------
/** binary → Debian package that provides it */
const wanted = new Map();
if (!process.env.REDIS_URL) wanted.set('redis-server', 'redis-server');
if (args.has('--test')) {
  wanted.set('chromium', 'chromium');
  wanted.set('curl', 'curl');
  wanted.set('squidGuard', 'squidguard');
  // virus scanning tests start their own clamd on a signature file they write (no freshclam)
  wanted.set('clamd', 'clamav-daemon');
  // directory sign-in tests start their own OpenLDAP server and seed it with the ldap-utils clients
  wanted.set('slapd', 'slapd');
  wanted.set('ldapadd', 'ldap-utils');
  // the TLS proxy listener's Chromium test trusts the organisation CA through an NSS database
  wanted.set('certutil', 'libnss3-tools');
}
if (args.has('--bench')) {
  wanted.set('squid', 'squid');
  wanted.set('wrk', 'wrk');
  wanted.set('sarg', 'sarg');
  wanted.set('clamd', 'clamav-daemon');
  wanted.set('curl', 'curl');
}
const missing = [...wanted].filter(([bin]) => !onPath(bin)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !onPath('apt-get')) {
    fail(`missing ${missing.join(', ')}: run \`sudo apt-get install -y ${missing.join(' ')}\`` +
      (missing.includes('redis-server') ? ' (or set REDIS_URL to an existing Redis)' : '') + ', then try again.');
  }
  process.stderr.write(`fairwatch: installing ${missing.join(', ')} with apt-get…\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!run('apt-get', ['update', '-qq'], { env })) fail('apt-get update failed (see above).');
  if (!run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env })) {
    fail(`apt-get could not install ${missing.join(', ')} (see above).`);
  }
}
