import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LARGE_READ_BYTES, relayReads, SMALL_READ_BYTES } from '../../proxy/relay-socket.ts';

// The tunnel relay over real loopback sockets: an origin, the relay's upstream socket reading into
// its own buffer, and a client socket it writes to (as tunnel.ts splices them).

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function listen(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer(onSocket);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** origin → relay → client; returns the relay, and what the client received once the origin ended. */
async function relayed(send: (origin: Socket) => Promise<void>, watch?: (bytes: number) => void): Promise<{ relay: ReturnType<typeof relayReads>; received: Promise<Buffer> }> {
  const originPort = await listen((s) => void send(s).then(() => s.end()));
  let clientSide!: Socket;
  const accepted = new Promise<Socket>((resolve) => void listen((s) => resolve(s)).then((port) => { clientSide = connect(port, '127.0.0.1'); }));
  const relay = relayReads();
  const upstream = connect({ port: originPort, host: '127.0.0.1', onread: relay.onread });
  relay.socket = upstream;
  await new Promise((r) => upstream.once('connect', r));
  const toClient = await accepted;
  relay.start(toClient);
  const chunks: Buffer[] = [];
  const received = new Promise<Buffer>((resolve) => {
    let n = 0;
    clientSide.on('data', (d: Buffer) => { chunks.push(d); n += d.length; watch?.(n); });
    clientSide.once('end', () => { resolve(Buffer.concat(chunks)); clientSide.destroy(); });
  });
  return { relay, received };
}

describe('tunnel relay buffer', () => {
  it('starts small, moves to the large buffer for a download, and the bytes arrive intact', async () => {
    const body = randomBytes(16 * 1024 * 1024);
    const sizes = new Set<number>();
    let r: ReturnType<typeof relayReads> | null = null;
    const { relay, received } = await relayed(async (origin) => {
      await new Promise<void>((resolve) => origin.write(body, () => resolve()));
    }, () => { if (r) sizes.add(r.bufferBytes); });
    r = relay;
    expect(relay.bufferBytes).toBe(SMALL_READ_BYTES);
    const got = await received;
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(sizes.has(LARGE_READ_BYTES)).toBe(true);
  });

  it('goes back to the small buffer once its reads are small again, and keeps every byte in order', async () => {
    const bulk = randomBytes(4 * 1024 * 1024);
    const messages = Array.from({ length: 40 }, (_, i) => Buffer.from(`message ${i}\n`));
    let afterBulk = 0;
    let r: ReturnType<typeof relayReads> | null = null;
    const { relay, received } = await relayed(async (origin) => {
      await new Promise<void>((resolve) => origin.write(bulk, () => resolve()));
      // let the bulk drain through before the small messages, each its own read
      for (let i = 0; i < 200 && !(r && afterBulk >= bulk.length); i++) await new Promise((res) => setTimeout(res, 10));
      for (const m of messages) {
        origin.write(m);
        await new Promise((res) => setTimeout(res, 5));
      }
    }, (n) => { afterBulk = n; });
    r = relay;
    const got = await received;
    expect(got.equals(Buffer.concat([bulk, ...messages]))).toBe(true);
    expect(relay.bufferBytes).toBe(SMALL_READ_BYTES);
  });
});
