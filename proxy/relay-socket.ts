import type { Socket } from 'node:net';

// The upstream side of a tunnel reads into one buffer of its own and writes each read straight to
// the client, instead of a fresh Buffer per read through pipe(): no allocation and no garbage per
// chunk, which is most of a spliced tunnel's cost. A write the kernel does not take at once still
// points into that buffer, so reading stops until that write has completed. Bytes that arrive before
// the tunnel is spliced (a server that speaks first) are copied and held until then.

const READ_BUFFER_BYTES = 64 * 1024;

export interface RelayReads {
  /** socket options for net.connect: read into this relay's buffer */
  onread: { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean };
  /** From now on every read goes to `to`, after what was held. Set `socket` first. */
  start(to: Socket): void;
  socket: Socket | null;
}

export function relayReads(): RelayReads {
  let to: Socket | null = null;
  const held: Buffer[] = [];
  const relay: RelayReads = {
    socket: null,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback(n, buf) {
        if (to === null) {
          held.push(Buffer.from(buf.subarray(0, n)));
          return true;
        }
        return forward(buf.subarray(0, n));
      },
    },
    start(target) {
      to = target;
      for (const b of held.splice(0)) target.write(b);
      relay.socket?.once('end', () => target.end());
      // flowing, so the end of the stream is noticed (reads go to the callback, never to 'data')
      relay.socket?.resume();
    },
  };
  // resumes reading once the write that made us stop has completed (its callback, not 'drain':
  // a TLS socket can hold a write without write() returning false, and then no 'drain' comes)
  let waiting = false;
  const written = () => {
    if (!waiting) return;
    waiting = false;
    relay.socket?.resume();
  };
  const forward = (chunk: Buffer): boolean => {
    const target = to!;
    // the client has gone: read on into nothing, so the origin's last bytes and its end still come
    if (target.destroyed) return true;
    target.write(chunk, written);
    if (target.writableLength === 0) return true;
    waiting = true;
    return false;
  };
  return relay;
}
