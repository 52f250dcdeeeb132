import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../core/events/event.ts';
import { freePort } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// Virus scanning through the real product: `fairwatch start` with scanning on and no scan.clamd, so the
// proxy role starts and supervises its own clamd (Debian's clamav-daemon) reading a signature
// database this test writes into scan.databaseDir. curl downloads an infected file through the
// proxy and gets the block page; `fairwatch doctor`, carried out by the running product through
// its control socket, names clamd, the signatures' age and the scan; after the stop the stored
// event says block / virus, and no clamd is left running.

const run = promisify(execFile);
const tmp = tempDir('fw-scan-start-');
const dataDir = join(tmp.dir, 'data');
const db = join(tmp.dir, 'signatures');
const lists = join(tmp.dir, 'lists');
const hostsFile = join(tmp.dir, 'hosts');
const PASSWORD = 'a long scanning password';
const MARKER = Buffer.from('FAIRWATCH-START-VIRUS-0b6f4e21d9a37c58');
const SIGNATURE = 'Fairwatch.Test.StartMarker';
const INFECTED = randomBytes(30_000);
MARKER.copy(INFECTED, 12_345);
const CLEAN = randomBytes(30_000);

let origin: Server;
let originPort: number;
let proxyPort: number;
let yaml: string;

const env = (): NodeJS.ProcessEnv => ({ FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: join(tmp.dir, 'fairwatch.yaml'), FAIRWATCH_BLOCKLISTS: lists, FAIRWATCH_DIAL_LOOPBACK_ONLY: '1', FAIRWATCH_LOG_LEVEL: 'warn' });

/** pids of processes running clamd with the managed config of this data directory (from /proc). */
function managedClamds(): number[] {
  const conf = join(dataDir, 'clamav', 'clamd.conf');
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (argv.includes(conf) && /clamd$/.test(argv[0] ?? '')) found.push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  return found;
}

beforeAll(async () => {
  mkdirSync(db, { recursive: true });
  // an .ndb body signature of the marker: name, any file type, anywhere, the bytes in hex
  writeFileSync(join(db, 'fairwatch-start.ndb'), `${SIGNATURE}:0:*:${MARKER.toString('hex')}\n`);
  mkdirSync(join(lists, 'local'), { recursive: true });
  writeFileSync(hostsFile, '127.0.0.1 files.test\n');
  origin = createServer((req, res) => {
    const body = req.url === '/invoice.zip' ? INFECTED : CLEAN;
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': body.length, 'content-disposition': `attachment; filename="${req.url!.slice(1)}"` });
    res.end(body);
  });
  originPort = await new Promise<number>((r) => origin.listen(0, '127.0.0.1', () => r((origin.address() as AddressInfo).port)));
  proxyPort = await freePort();
  yaml = `
proxy: { port: ${proxyPort}, workers: 1, allowDestinations: [127.0.0.1], hostsFile: "${hostsFile}" }
console: { port: ${await freePort()} }
scan: { enabled: true, databaseDir: "${db}", maxMB: 2 }
`;
  writeFileSync(join(tmp.dir, 'fairwatch.yaml'), yaml);
  const r = await runCli(['users', 'add', '--username', 'alice', '--role', 'staff', '--group', 'staff', '--password-stdin'], { env: env(), stdin: `${PASSWORD}\n` });
  expect(r.code, r.stderr).toBe(0);
  // alice accepted the statement already (the console warms the proxy's gate from this record)
  const { platform } = await openTestPlatform({ dataDir, redis: false, yaml });
  try {
    await platform.store.insert('aup_acceptances', [{ ts: new Date().toISOString(), user_pseudonym: platform.pseudonyms.user('alice'), version: platform.config.aup.version, client_pseudonym: platform.pseudonyms.client('127.0.0.1') }]);
  } finally {
    await platform.close();
  }
}, 120_000);

afterAll(() => {
  origin?.close();
  tmp.cleanup();
});

async function curl(path: string): Promise<{ status: number; body: Buffer }> {
  const out = join(tmp.dir, `body-${Math.random().toString(36).slice(2)}`);
  const r = await run('curl', ['-sS', '--max-time', '30', '-x', `http://127.0.0.1:${proxyPort}`, '-U', `alice:${PASSWORD}`, '-o', out, '-w', '%{http_code}', `http://files.test:${originPort}${path}`], { timeout: 40_000 });
  return { status: Number(r.stdout), body: readFileSync(out) };
}

describe('fairwatch start with scanning on and a managed clamd', () => {
  it('blocks an infected download, doctor shows clamd and the signatures, the event is stored, stop leaves no clamd', async () => {
    const from = new Date(Date.now() - 1000);
    const server = startCli(['start'], { env: env(), timeoutMs: 180_000 });
    let clamdPids: number[] = [];
    try {
      await server.ready;
      expect(server.output().stdout).toMatch(/downloads scanned by a managed clamd/);
      clamdPids = managedClamds();
      expect(clamdPids).toHaveLength(1);

      // the statement may still be warming into Redis: bounded retries until the file itself answers
      let blocked = await curl('/invoice.zip');
      for (let i = 0; i < 20 && blocked.status !== 403; i++) {
        await new Promise((r) => setTimeout(r, 250));
        blocked = await curl('/invoice.zip');
      }
      expect(blocked.status).toBe(403);
      const page = blocked.body.toString('utf8');
      expect(page).toContain(`${SIGNATURE}.UNOFFICIAL`);
      expect(page).toContain('Report a false positive');
      expect(blocked.body.includes(MARKER)).toBe(false);
      const clean = await curl('/report.zip');
      expect(clean.status).toBe(200);
      expect(clean.body.equals(CLEAN)).toBe(true);

      // doctor, carried out by the running product (its clamd, its workers' counts)
      const doctor = await runCli(['doctor'], { env: env() });
      expect(doctor.stdout).toMatch(/^virus scanning: +on: downloads up to 2 MB are checked by a managed clamd on .*clamav\/clamd\.sock$/m);
      expect(doctor.stdout).toMatch(/^clamd: +answers: ClamAV 1\.\d[^\n]*; 0 restarts in the last hour, 0 restarts since start$/m);
      expect(doctor.stdout).toMatch(/^virus signatures: +less than a day old \(\d{4}-/m);
      expect(doctor.stdout).toMatch(/^virus scans: +since start: 1 clean, 1 infected \(blocked\), 0 failed, 0 unscanned/m);
      expect(doctor.stderr).not.toMatch(/clamd|signatures|Virus/);

      // every request stored before the stop (bounded)
      for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
        const r = await runCli(['events', 'count', '--from', from.toISOString(), '--to', new Date(Date.now() + 60_000).toISOString(), '--json'], { env: env() });
        if (Number((JSON.parse(r.stdout || '{}') as { events?: number }).events ?? 0) >= 2) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
    // stop leaves no clamd behind
    expect(managedClamds()).toEqual([]);
    for (const pid of clamdPids) expect(() => process.kill(pid, 0)).toThrow();

    const { platform } = await openTestPlatform({ dataDir, redis: false, yaml });
    try {
      const rows = await platform.store.rows<AccessEvent & { flags: string[] }>(
        `SELECT * FROM ${platform.store.database}.events WHERE ts >= {from:DateTime64(3)} ORDER BY ts`, { from: from.toISOString().replace('T', ' ').replace('Z', '') });
      const infected = rows.find((e) => e.path === '/invoice.zip' && e.action === 'block');
      expect(infected, JSON.stringify(rows.map((e) => [e.path, e.action, e.rule, e.flags]))).toMatchObject({ action: 'block', rule: 'virus', filename: 'invoice.zip', host: 'files.test', status: 403 });
      expect(infected!.flags).toContain(`virus:${SIGNATURE}.UNOFFICIAL`);
      const passed = rows.find((e) => e.path === '/report.zip')!;
      expect(passed).toMatchObject({ action: 'allow', status: 200 });
      expect(passed.flags).toContain('virus-scanned');
    } finally {
      await platform.close();
    }
  }, 300_000);
});
