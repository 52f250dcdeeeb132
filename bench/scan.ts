// Virus scanning cost: the same 1 MB and 50 MB downloads through the proxy with scan.enabled on and
// off, one run on this machine, medians of ROUNDS alternating fetches.
//
//   node --import tsx bench/scan.ts               # BENCH_ROUNDS=5 by default
//   BENCH_CLAMAV_DB=/var/lib/clamav node --import tsx bench/scan.ts   # with the real signature set
//
// - clamd: Debian's clamav-daemon started through the product's ManagedClamd on a temp unix socket;
//   signatures: BENCH_CLAMAV_DB when given (freshclam's full set: what production pays), else one
//   .ndb body signature written here (what the scanning path itself costs: INSTREAM, hold-back)
// - proxy: the real proxy code in this process (events to memory), scan.maxMB 64, holdKB default
// - origin: a node:http server in this process serving random bytes with Content-Length
// - client: curl over loopback; time to first byte (the hold-back shows there) and total time
import { blockOnlyHooks } from '../test/helpers/block-hooks.ts';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../core/config/load.ts';
import { MemorySink } from '../core/events/event.ts';
import { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { allowAll } from '../core/policy/types.ts';
import { CredentialStore } from '../proxy/credentials.ts';
import { ManagedClamd } from '../proxy/managed-clamd.ts';
import { createProxyServer } from '../proxy/server.ts';
import { tempDir } from '../test/helpers/tmp.ts';

process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY = '1';
const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const tmp = tempDir('fw-bench-scan-');

const files: Record<string, Buffer> = { '/1mb.bin': randomBytes(1024 * 1024), '/50mb.bin': randomBytes(50 * 1024 * 1024) };

async function main(): Promise<void> {
  let db = process.env.BENCH_CLAMAV_DB;
  if (!db) {
    db = join(tmp.dir, 'db');
    mkdirSync(db);
    writeFileSync(join(db, 'bench.ndb'), `Fairwatch.Bench.Marker:0:*:${Buffer.from('FAIRWATCH-BENCH-MARKER-00c0ffee').toString('hex')}\n`);
  }
  const t0 = performance.now();
  const clamd = await ManagedClamd.start(tmp.dir, { maxMB: 64, databaseDir: db, binary: 'clamd' });
  console.log(`clamd ready in ${Math.round(performance.now() - t0)} ms (signatures: ${process.env.BENCH_CLAMAV_DB ? db : 'one test .ndb signature'})`);

  const origin = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  const originPort = (origin.address() as AddressInfo).port;

  const proxies: Record<string, number> = {};
  const scannedSink = new MemorySink();
  const servers = [];
  for (const enabled of [false, true]) {
    const config = parseConfig(`
proxy: { port: 0, allowDestinations: [127.0.0.1], ipTunnels: allow }
identity: { guestNetworks: [127.0.0.0/8] }
scan: { enabled: ${enabled}, clamd: "${clamd.socket}", maxMB: 64 }
`, 'bench.yaml');
    const s = createProxyServer({ hooks: blockOnlyHooks, config, engine: () => allowAll, sink: enabled ? scannedSink : new MemorySink(), credentials: new CredentialStore([]), pseudonyms: new Pseudonymiser(Buffer.alloc(32, 7)) });
    servers.push(s);
    proxies[enabled ? 'scanned' : 'unscanned'] = (await s.listen(0, '127.0.0.1')).port;
  }

  const fetchOnce = async (proxyPort: number, path: string) => {
    const r = await run('curl', ['-sS', '-o', '/dev/null', '--proxy', `http://127.0.0.1:${proxyPort}`, '-w', '%{http_code} %{time_starttransfer} %{time_total} %{size_download}', `http://127.0.0.1:${originPort}${path}`], { timeout: 120_000 });
    const [code, ttfb, total, size] = r.stdout.trim().split(' ').map(Number);
    if (code !== 200 || size !== files[path]!.length) throw new Error(`${path}: status ${code}, ${size} bytes`);
    return { ttfb: ttfb! * 1000, total: total! * 1000 };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  console.log(`\n| file | proxy | first byte (ms) | total (ms) | throughput (MB/s) | added by scanning (ms) |`);
  console.log(`| --- | --- | ---: | ---: | ---: | ---: |`);
  for (const path of Object.keys(files)) {
    const results: Record<string, { ttfb: number[]; total: number[] }> = { unscanned: { ttfb: [], total: [] }, scanned: { ttfb: [], total: [] } };
    await fetchOnce(proxies.unscanned!, path);
    await fetchOnce(proxies.scanned!, path);
    for (let i = 0; i < ROUNDS; i++) {
      for (const k of ['unscanned', 'scanned']) {
        const r = await fetchOnce(proxies[k]!, path);
        results[k]!.ttfb.push(r.ttfb);
        results[k]!.total.push(r.total);
      }
    }
    const mb = files[path]!.length / 1024 / 1024;
    const base = median(results.unscanned!.total);
    for (const k of ['unscanned', 'scanned']) {
      const total = median(results[k]!.total);
      console.log(`| ${path.slice(1)} | ${k} | ${median(results[k]!.ttfb).toFixed(1)} | ${total.toFixed(1)} | ${(mb / (total / 1000)).toFixed(0)} | ${k === 'scanned' ? (total - base).toFixed(1) : ''} |`);
    }
  }
  // every scanned fetch must have had clamd's verdict (not an error passed under onError: allow)
  await new Promise((r) => setTimeout(r, 50));
  const unscanned = scannedSink.events.filter((e) => !e.flags.includes('virus-scanned'));
  if (unscanned.length) throw new Error(`${unscanned.length} scanned-proxy downloads had no verdict: ${JSON.stringify(unscanned.map((e) => e.flags))}`);
  console.log(`\n${scannedSink.events.length} downloads through the scanning proxy, each with clamd's verdict`);
  for (const s of servers) await s.close();
  origin.close();
  await clamd.stop();
}

main().then(() => tmp.cleanup(), (e) => {
  console.error(e);
  tmp.cleanup();
  process.exit(1);
});
