import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { readSlowly } from '../helpers/slow-reader.ts';
import { ownsItsMemory, relayReleasing, release, releaseWhatIsWritten, releaseWhenAllWritten, releaseWhenWritten } from '../../proxy/read-buffers.ts';

// A read buffer is freed once its chunk has been written on, but only a chunk that is the whole of
// its buffer: anything sharing that memory (Node's small-buffer pool, the rest of a parsed read)
// must be left alone. The relay test runs over real sockets, as the proxy's forwarding does.

const servers: Server[] = [];
afterAll(() => { for (const s of servers) s.close(); });

function listen(onConnection: (s: Socket) => void): Promise<number> {
  const server = createServer(onConnection);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('which chunks own their memory', () => {
  it('a buffer of its own, at read size, does', () => {
    expect(ownsItsMemory(Buffer.allocUnsafeSlow(65536))).toBe(true);
    expect(ownsItsMemory(Buffer.allocUnsafeSlow(16384))).toBe(true);
  });

  it('a slice of Node\'s shared pool, a view into a larger read, and a small buffer do not', () => {
    const pooled = Buffer.from('a short string');
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    expect(ownsItsMemory(pooled)).toBe(false);
    const read = Buffer.allocUnsafeSlow(65536);
    expect(ownsItsMemory(read.subarray(200))).toBe(false);
    expect(ownsItsMemory(read.subarray(0, 40000))).toBe(false);
    expect(ownsItsMemory(Buffer.allocUnsafeSlow(4096))).toBe(false);
    expect(releaseWhenWritten(read.subarray(1))).toBeUndefined();
  });

  it('a chunk written twice is freed only once both writes are done', () => {
    const b = Buffer.allocUnsafeSlow(65536);
    const written = releaseWhenAllWritten(b, 2)!;
    written();
    expect(b.length).toBe(65536);
    written();
    expect(b.length).toBe(0);
    expect(releaseWhenAllWritten(Buffer.allocUnsafeSlow(65536).subarray(1), 2)).toBeUndefined();
  });

  it('release empties the buffer, and a second release is harmless', () => {
    const b = Buffer.allocUnsafeSlow(65536);
    release(b);
    expect(b.length).toBe(0);
    expect((b.buffer as ArrayBuffer).detached).toBe(true);
    expect(() => release(b)).not.toThrow();
  });
});

describe('relaying over sockets', () => {
  it('a relay delivers every byte in order to a reader that stops now and then, and frees the reads', async () => {
    const data = randomBytes(16 * 2 ** 20);
    const sha = createHash('sha256').update(data).digest('hex');
    let done: (r: { sha: string; length: number }) => void = () => {};
    const received = new Promise<{ sha: string; length: number }>((resolve) => { done = resolve; });
    const sinkPort = await listen((s) => {
      const hash = createHash('sha256');
      let length = 0;
      // a reader that stops now and then, so the relay's writes queue behind it
      readSlowly(s, (d) => {
        hash.update(d);
        length += d.length;
      }, { every: 2 ** 20, ms: 5 });
      s.on('end', () => done({ sha: hash.digest('hex'), length }));
    });
    const sourcePort = await listen((s) => { s.end(data); });
    const out = connect(sinkPort, '127.0.0.1');
    const from = connect(sourcePort, '127.0.0.1');
    const seen: Buffer[] = [];
    relayReleasing(from, out);
    from.on('data', (chunk: Buffer) => seen.push(chunk));
    const got = await received;
    expect(got.length).toBe(data.length);
    expect(got.sha).toBe(sha);
    // socket reads of 64 KiB come in buffers of their own: most are freed (and read as empty) by now
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((c) => c.length === 0).length).toBeGreaterThan(seen.length / 2);
  });

  it('once the other side is gone, the source is read to its end and dropped', async () => {
    let sourceSocket: Socket | null = null;
    const sourcePort = await listen((s) => {
      sourceSocket = s;
      s.write(randomBytes(2 ** 20));
    });
    const sinkPort = await listen((s) => { s.destroy(); });
    const out = connect(sinkPort, '127.0.0.1');
    const from = connect(sourcePort, '127.0.0.1');
    // the sink's reset shows as an error on the writing side, which the proxy answers by closing it
    out.on('error', () => out.destroy());
    relayReleasing(from, out);
    await new Promise((resolve) => out.once('close', resolve));
    let after = 0;
    from.on('data', (d: Buffer) => { after += d.length; });
    const ended = new Promise((resolve) => from.once('end', resolve));
    sourceSocket!.end(randomBytes(4 * 2 ** 20));
    await ended;
    expect(from.isPaused()).toBe(false);
    expect(after).toBeGreaterThan(0);
  });
});

describe('a socket whose writes are freed', () => {
  it('frees an owned Buffer once written, leaves strings and shared Buffers, and still calls every callback', async () => {
    let got = Buffer.alloc(0);
    let received: () => void = () => {};
    const all = new Promise<void>((resolve) => { received = resolve; });
    const port = await listen((s) => {
      s.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
      s.on('end', () => received());
    });
    const out = connect(port, '127.0.0.1');
    releaseWhatIsWritten(out);
    const owned = Buffer.allocUnsafeSlow(65536).fill(1);
    const shared = Buffer.from('shared');
    const calls: string[] = [];
    out.write(owned, () => calls.push('owned'));
    out.write('text', 'latin1', () => calls.push('text'));
    out.write(shared, () => calls.push('shared'));
    await new Promise<void>((resolve) => out.end(() => resolve()));
    await all;
    expect(calls).toEqual(['owned', 'text', 'shared']);
    expect(owned.length).toBe(0);
    expect(shared.toString()).toBe('shared');
    expect(got.length).toBe(65536 + 'text'.length + 'shared'.length);
    expect(got.subarray(0, 65536).every((b) => b === 1)).toBe(true);
    expect(got.subarray(65536).toString()).toBe('textshared');
  });
});
