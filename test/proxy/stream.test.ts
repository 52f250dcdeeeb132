import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSlowly } from '../helpers/slow-reader.ts';
import { tempDir } from '../helpers/tmp.ts';
import { RANDOM, RANDOM_SHA, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// Bodies stream both ways: a 400 MB download and a 64 MB upload pass through with memory bounded.
// The client is curl (another process); origin and proxy run here, so this process's RSS shows any
// buffering. Memory is measured, not time.

const run = promisify(execFile);
const tmp = tempDir('fw-stream-');
let origin: Origin;
let px: TestProxy;

let randomFile: string;

beforeAll(async () => {
  randomFile = join(tmp.dir, 'random.bin');
  writeFileSync(randomFile, RANDOM);
  origin = await startOrigin();
  px = await startProxy();
});
afterAll(async () => {
  await px.close();
  await origin.close();
  tmp.cleanup();
});

async function peakRssDuring<T>(work: Promise<T>): Promise<{ result: T; growthMB: number }> {
  globalThis.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  try {
    const result = await work;
    const growthMB = (peak - base) / 2 ** 20;
    return { result, growthMB };
  } finally {
    clearInterval(timer);
  }
}

describe('streaming', () => {
  it('a 400 MB download streams through with bounded memory, and the event counts its bytes', async () => {
    const size = 400 * 2 ** 20;
    const { result, growthMB } = await peakRssDuring(run('curl', ['-sS', '--max-time', '120', '--noproxy', '', '-x', px.url, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${origin.url}/download?size=${size}`]));
    expect(result.stdout).toBe(`200 ${size}`);
    // buffering the body would cost ≥ 400 MB here; streaming costs socket buffers and a few read
    // buffers, each freed once its chunk has gone on (read-buffers.ts): left to the collector
    // instead, the chunks not yet collected take over 100 MB
    expect(growthMB).toBeLessThan(64);
    const e = await px.find((x) => x.path === '/download');
    expect(e!.bytes_down).toBeGreaterThan(size);
    expect(e!.bytes_down).toBeLessThan(size + 1024);
    expect(e!.content_type).toBe('application/octet-stream');
    expect(e!.filename).toBe('download');
  });

  it('a 64 MB upload streams to the origin intact with bounded memory; bytes_up counts it', async () => {
    const file = join(tmp.dir, 'upload.bin');
    const fd = openSync(file, 'w');
    const hash = createHash('sha256');
    const block = Buffer.alloc(2 ** 20);
    for (let i = 0; i < 64; i++) {
      block.fill(i);
      writeSync(fd, block);
      hash.update(block);
    }
    closeSync(fd);
    const { result, growthMB } = await peakRssDuring(run('curl', ['-sS', '--max-time', '120', '--noproxy', '', '-x', px.url, '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `${origin.url}/echo`], { maxBuffer: 1 << 20 }));
    // curl reads the whole file into memory itself (its process, not ours)
    const seen = JSON.parse(result.stdout) as { bodyLength: number; bodySha: string };
    expect(seen.bodyLength).toBe(64 * 2 ** 20);
    expect(seen.bodySha).toBe(hash.digest('hex'));
    expect(growthMB).toBeLessThan(100);
    const e = await px.find((x) => x.path === '/echo' && x.method === 'POST');
    expect(e!.bytes_up).toBeGreaterThan(64 * 2 ** 20);
  });

  // The proxy frees a read buffer once its chunk has gone on (read-buffers.ts). A slow client makes
  // the proxy pause the origin mid-read, and chunked framing puts several chunks in one read: the
  // bytes that arrive must still be exactly the origin's, in either framing.
  for (const framing of ['length', 'chunked']) {
    it(`a download to a slow client arrives byte for byte (${framing} framing)`, async () => {
      // the reader stops now and then, so the proxy's writes back up and it pauses the origin
      const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
      try {
        const r = await request(`${origin.url}/random?framing=${framing}`, { dispatcher: agent });
        expect(r.statusCode).toBe(200);
        const hash = createHash('sha256');
        let length = 0;
        const ended = new Promise((resolve, reject) => {
          r.body.once('end', resolve);
          r.body.once('error', reject);
        });
        readSlowly(r.body, (chunk) => {
          hash.update(chunk);
          length += chunk.length;
        }, { every: 2 ** 19, ms: 30 });
        await ended;
        expect(length).toBe(RANDOM.length);
        expect(hash.digest('hex')).toBe(RANDOM_SHA);
      } finally {
        await agent.close();
      }
    });

    it(`a download to a fast client arrives byte for byte (${framing} framing)`, async () => {
      const { stdout } = await run('sh', ['-c', `curl -sS --max-time 60 --noproxy '' -x ${px.url} '${origin.url}/random?framing=${framing}' | sha256sum`]);
      expect(stdout.split(' ')[0]).toBe(RANDOM_SHA);
    });
  }

  // A request body's chunks are freed once written to the origin (read-buffers.ts): with the origin
  // reading slowly, and with either framing, the origin must still receive exactly what was sent.
  for (const framing of ['length', 'chunked']) {
    it(`an upload to a slow origin arrives byte for byte (${framing} framing)`, async () => {
      const headers = framing === 'chunked' ? ['-H', 'Transfer-Encoding: chunked'] : [];
      const { stdout } = await run('curl', ['-sS', '--max-time', '60', '--noproxy', '', '-x', px.url, '-H', 'Content-Type: application/octet-stream', ...headers, '--data-binary', `@${randomFile}`, `${origin.url}/echo?slow=1`], { maxBuffer: 1 << 20 });
      const seen = JSON.parse(stdout) as { bodyLength: number; bodySha: string; headers: Record<string, string> };
      expect(seen.bodyLength).toBe(RANDOM.length);
      expect(seen.bodySha).toBe(RANDOM_SHA);
      if (framing === 'chunked') expect(seen.headers['transfer-encoding']).toBe('chunked');
      else expect(seen.headers['content-length']).toBe(String(RANDOM.length));
    });
  }

  it('a client that goes away mid-download ends the upstream request and the event (status as sent)', async () => {
    const before = px.sink.events.length;
    await new Promise<void>((resolve) => {
      const s = connect(px.port, '127.0.0.1');
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got > 4 * 2 ** 20) s.destroy();
      });
      s.on('close', () => resolve());
      s.write(`GET ${origin.url}/download?size=${500 * 2 ** 20} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
    const e = await px.find((x, i = px.sink.events.indexOf(x)) => i >= before && x.path === '/download');
    expect(e).toMatchObject({ status: 200 });
    expect(e!.bytes_down).toBeLessThan(100 * 2 ** 20);
  });
});
