import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { createStreamSink } from '../../core/events/stream-sink.ts';
import { Pseudonymiser } from '../../core/identity/pseudonym.ts';
import { loadKey } from '../../core/keys.ts';
import { managedRedisUrl } from '../../core/storage/redis.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// The Prometheus endpoint of a running `fairwatch start`, scraped after a short load: requests of a
// named person through the real proxy to a local origin, and events with a person's pseudonym, host
// names and paths through the Redis stream into the ingester; the counters move, and nothing
// personal shows up in any metric.

const tmp = tempDir('fw-ops-metrics-');
afterAll(() => tmp.cleanup());

const FORBIDDEN_LABELS = /^(user|username|user_name|pseudonym|user_pseudonym|client|client_ip|ip|host|hostname|url|path|email)$/i;

/** Parses exposition text into samples (name, labels, value). */
function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const total = (s: ReturnType<typeof samples>, name: string) => s.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);

describe('metrics endpoint', () => {
  it('a running start: counters move under load, no personal data in any metric', async () => {
    const dataDir = join(tmp.dir, 'data');
    const cfg = join(tmp.dir, 'fairwatch.yaml');
    writeFileSync(cfg, 'metrics:\n  port: 0\nproxy:\n  workers: 1\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n');
    const origin = createServer((_req, res) => res.end('hello from the origin'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const env = { FAIRWATCH_DATA_DIR: dataDir, FAIRWATCH_CONFIG: cfg, FAIRWATCH_PROXY_PORT: '0', FAIRWATCH_CONSOLE_PORT: '0' };
    const person = 'carol.jones';
    const add = await runCli(['users', 'add', '--username', person, '--role', 'staff', '--password-stdin'], { env, stdin: 'a long enough password', timeoutMs: 150_000 });
    expect(add.code).toBe(0);
    const server = startCli(['start'], { env, timeoutMs: 150_000 });
    try {
      await server.ready;
      const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(server.output().stdout)?.[1];
      expect(url, server.output().stdout).toBeDefined();
      expect((await fetch(url!.replace('/metrics', '/healthz'))).status).toBe(200);


      // Load 1: requests of the named person through the proxy (Basic auth), each one an event.
      const proxyUrl = /proxy on (?:127\.0\.0\.1|0\.0\.0\.0):(\d+)/.exec(server.output().stdout)?.[1];
      expect(proxyUrl, server.output().stdout).toBeDefined();
      const agent = new ProxyAgent({ uri: `http://127.0.0.1:${proxyUrl}`, token: `Basic ${Buffer.from(`${person}:a long enough password`).toString('base64')}`, proxyTunnel: false });
      const P = 40;
      for (let i = 0; i < P; i++) {
        const res = await request(`${originUrl}/carol/page-${i}`, { dispatcher: agent });
        await res.body.arrayBuffer();
        expect(res.statusCode).toBeLessThan(500);
      }
      await agent.close();

      // Load 2: 300 events of one identified person, as the proxy emits them, through the real sink.
      const pseudonyms = new Pseudonymiser(loadKey(dataDir, 'pseudonym', {}));
      const redisUrl = managedRedisUrl(dataDir)!;
      const spoolDir = join(tmp.dir, 'sink');
      mkdirSync(spoolDir);
      const sink = createStreamSink({ redis: redisUrl, dataDir: spoolDir, pipeline: parseConfig('').pipeline });
      const N = 300;
      for (let i = 0; i < N; i++) {
        sink.emit({
          ts: new Date().toISOString(), event_id: randomUUID(), user_pseudonym: pseudonyms.user(person), user_group: 'staff',
          client_pseudonym: pseudonyms.client('192.168.7.77'), method: 'GET', scheme: 'https', host: 'carols-private-host.example.com', port: 443,
          path: '/carol/medical-appointment', status: 200, bytes_up: 300, bytes_down: 5000, duration_ms: 20, content_type: 'text/html',
          filename: 'carol.pdf', category: i % 3 ? 'news' : 'gambling', action: i % 3 ? 'allow' : 'block', rule: 'r1', flags: [],
        });
      }
      await sink.flush();
      await sink.close();

      // Bounded wait for the ingester to store them (at most 60 polls).
      let text = '';
      for (let i = 0; i < 60; i++) {
        text = await (await fetch(url!)).text();
        if (total(samples(text), 'fairwatch_events_stored_total') >= N + P) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const s = samples(text);
      expect(total(s, 'fairwatch_events_stored_total')).toBeGreaterThanOrEqual(N + P);
      expect(total(s, 'fairwatch_ingest_insert_seconds_count')).toBeGreaterThan(0);
      // the proxy counts in its worker processes; the primary's scrape sums them
      expect(total(s, 'fairwatch_proxy_requests_total')).toBeGreaterThanOrEqual(P);
      expect(s.find((x) => x.name === 'fairwatch_role_info' && x.labels.role === 'ingest')?.value).toBe(1);
      expect(total(s, 'fairwatch_process_cpu_user_seconds_total')).toBeGreaterThan(0);

      for (const x of s) {
        for (const [k, v] of Object.entries(x.labels)) {
          expect(k, `${x.name}: label ${k}`).not.toMatch(FORBIDDEN_LABELS);
          expect(v, `${x.name}{${k}}`).not.toMatch(/carol|192\.168\.7\.77|example\.com|medical/i);
        }
      }
      for (const secret of [person, 'carol', pseudonyms.user(person), pseudonyms.client('192.168.7.77'), '192.168.7.77', 'carols-private-host', 'medical-appointment', 'page-1']) {
        expect(text).not.toContain(secret);
      }
      const res = await fetch(url!.replace('/metrics', '/nothing'));
      expect(res.status).toBe(404);
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
      origin.close();
    }
  }, 180_000);

  it('the role process serves its worker process\'s and worker threads\' counters summed with its own', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'cluster-metrics.ts')], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`no metrics url: ${out} ${err}`)), 30_000);
        child.stdout.on('data', (d) => {
          out += d;
          const m = /metrics (\S+)/.exec(out);
          if (m) { clearTimeout(timer); resolve(m[1]!); }
        });
        child.stderr.on('data', (d) => { err += d; });
      });
      const s = samples(await (await fetch(url)).text());
      const v = (action: string) => s.find((x) => x.name === 'fairwatch_test_requests_total' && x.labels.action === action)?.value;
      expect(v('allow')).toBe(1 + 3 + 3);
      expect(v('block')).toBe(2 + 2);
      expect(total(s, 'fairwatch_metrics_workers_unanswered')).toBe(0);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
