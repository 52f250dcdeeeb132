import type { Readable } from 'node:stream';

/**
 * Reads `stream`, handing each chunk to `onData`, and stops for `ms` after every `every` bytes (at
 * most `times` stops, so a test stays bounded in time): whatever writes to it backs up, as behind
 * a slow client or origin.
 */
export function readSlowly(stream: Readable, onData: (chunk: Buffer) => void, opts: { every?: number; ms?: number; times?: number } = {}): void {
  const { every = 500_000, ms = 20, times = 40 } = opts;
  let sinceStop = 0;
  let stops = 0;
  stream.on('data', (chunk: Buffer) => {
    onData(chunk);
    sinceStop += chunk.length;
    if (stops < times && sinceStop >= every) {
      sinceStop = 0;
      stops++;
      stream.pause();
      setTimeout(() => stream.resume(), ms);
    }
  });
}
