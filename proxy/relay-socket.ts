import type { Socket } from 'node:net';

// The upstream side of a tunnel reads into a buffer of its own and writes each read straight to
// the client, instead of a fresh Buffer per read through pipe(): no allocation and no garbage per
// chunk, which is most of a spliced tunnel's cost. A write the kernel does not take at once still
// points into that buffer, so reading stops until that write has completed. Bytes that arrive before
// the tunnel is spliced (a server that speaks first) are copied and held until then.
//
// The buffer's size follows the traffic: most tunnels sit idle or carry pages, and keep a small
// one; a tunnel whose reads keep filling it (a download) moves to a large one, so each read and
// write moves more bytes per system call and per event-loop turn, and back once its reads are small.

export const SMALL_READ_BYTES = 16 * 1024;
export const LARGE_READ_BYTES = 256 * 1024;
/** full reads in a row before a tunnel moves to the large buffer */
const GROW_AFTER = 4;
/** reads under an eighth of the large buffer, in a row, before it moves back */
const SHRINK_AFTER = 16;

export interface RelayReads {
  /** socket options for net.connect: read into this relay's buffer (the function gives the next one) */
  onread: { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };
  /** From now on every read goes to `to`, after what was held. Set `socket` first. */
  start(to: Socket): void;
  socket: Socket | null;
  /** the size of the buffer the next read goes into */
  readonly bufferBytes: number;
}

export function relayReads(): RelayReads {
  let to: Socket | null = null;
  const held: Buffer[] = [];
  let buffer = Buffer.allocUnsafeSlow(SMALL_READ_BYTES);
  let full = 0;
  let small = 0;
  /** After each read, before the next: a new buffer when the tunnel's traffic changed its kind. A
   * write still pending on the old one keeps it alive until done; reading is paused until then. */
  const adapt = (n: number) => {
    if (buffer.length === SMALL_READ_BYTES) {
      full = n === SMALL_READ_BYTES ? full + 1 : 0;
      if (full >= GROW_AFTER) {
        buffer = Buffer.allocUnsafeSlow(LARGE_READ_BYTES);
        full = 0;
      }
    } else {
      small = n < LARGE_READ_BYTES / 8 ? small + 1 : 0;
      if (small >= SHRINK_AFTER) {
        buffer = Buffer.allocUnsafeSlow(SMALL_READ_BYTES);
        small = 0;
      }
    }
  };
  const relay: RelayReads = {
    socket: null,
    get bufferBytes() {
      return buffer.length;
    },
    onread: {
      buffer: () => buffer,
      callback(n, buf) {
        if (to === null) {
          held.push(Buffer.from(buf.subarray(0, n)));
          return true;
        }
        const go = forward(buf.subarray(0, n));
        adapt(n);
        return go;
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
