import type { Socket } from 'node:net';

// Every socket read arrives in a buffer of its own (up to 64 KiB over TCP, 16 KiB over TLS), and V8
// frees it only when a collection finds it dead. During a fast download thousands of them wait for
// that, and glibc keeps the space they took long after. A body chunk that is the whole of its read
// buffer has nothing else in that memory, so once it has been written on it is handed back at once
// (ArrayBuffer transfer detaches the buffer, which frees its memory) and the next read reuses it.

/** Smaller buffers may be slices of Node's shared 8 KiB pool, which must never be detached. */
const MIN_OWNED_BYTES = 16 * 1024;

/**
 * True when `chunk` spans its whole ArrayBuffer, so nothing else can be a view of that memory:
 * not response headers (they share the first read), not the rest of a read the parser paused in,
 * not other chunks of a chunked body.
 */
export function ownsItsMemory(chunk: Buffer): boolean {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.byteLength >= MIN_OWNED_BYTES;
}

/** Frees the chunk's memory now; the Buffer reads as empty afterwards. */
export function release(chunk: Buffer): void {
  const buffer = chunk.buffer as ArrayBuffer;
  if (buffer.detached) return;
  try {
    buffer.transfer(0);
  } catch {
    // a buffer made non-detachable by its owner stays for the collector
  }
}

/**
 * The callback for writing `chunk` on: it releases the chunk once the write has completed (or
 * failed), which is when the socket no longer reads from it. Undefined for a chunk that shares its
 * memory. The caller must not keep the chunk past that write.
 */
export function releaseWhenWritten(chunk: Buffer): (() => void) | undefined {
  return releaseWhenAllWritten(chunk, 1);
}

/**
 * The callback for each of `writes` writes of `chunk` (to two sockets, say): it releases the chunk
 * once all of them have completed. Undefined for a chunk that shares its memory.
 */
export function releaseWhenAllWritten(chunk: Buffer, writes: number): (() => void) | undefined {
  if (!ownsItsMemory(chunk)) return undefined;
  let left = writes;
  return () => {
    if (--left === 0) release(chunk);
  };
}

/**
 * `from.pipe(to)` for two sockets, freeing each chunk once written: `to` ends when `from` ends,
 * and `from` waits while `to` is backed up. Once `to` is destroyed, what `from` still sends is read
 * and dropped, so `from` can finish its own way (a TLS close_notify after the other side left).
 */
export function relayReleasing(from: Socket, to: Socket): void {
  let waiting = false;
  const resume = () => {
    if (!waiting) return;
    waiting = false;
    to.off('drain', resume);
    from.resume();
  };
  from.on('data', (chunk: Buffer) => {
    if (to.destroyed) return;
    if (!to.write(chunk, releaseWhenWritten(chunk)) && !waiting) {
      waiting = true;
      from.pause();
      to.once('drain', resume);
    }
  });
  from.once('end', () => {
    if (!to.destroyed) to.end();
  });
  to.once('close', resume);
  from.resume();
}

/**
 * From now on, each Buffer written to `socket` that owns its memory is freed once its write has
 * completed. Only for a socket whose writer keeps nothing it wrote: the origin pool's sockets,
 * where undici writes a request body's chunks as they come (a body is never sent twice).
 */
export function releaseWhatIsWritten(socket: Socket): void {
  const write = socket.write;
  socket.write = function (this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    const free = Buffer.isBuffer(chunk) ? releaseWhenWritten(chunk) : undefined;
    if (free) {
      const then = cb as ((err?: Error | null) => void) | undefined;
      cb = (err?: Error | null) => {
        free();
        then?.(err);
      };
    }
    return (write as (c: unknown, e?: unknown, cb?: unknown) => boolean).call(this, chunk, encoding, cb);
  } as Socket['write'];
}
