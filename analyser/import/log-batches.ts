import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

// A log file as batches of `size` lines, each batch's lines joined by "\n". Lines end where
// node:readline ends them (with crlfDelay: Infinity): at "\n", "\r\n" or a lone "\r"; a last line
// without a line break still counts, a final line break adds no empty line. The importer's ledger
// hashes these texts, so the split must never change.
//
// Why not readline: it costs the importing thread one string and one event a line; cutting batches
// out of large decoded chunks costs far less.

export interface LogBatch {
  text: string;
  lines: number;
}

/** Position just after the `n`th "\n" from `from`, or -1 (and how many were found). */
function afterNth(s: string, from: number, n: number): [number, number] {
  let p = from;
  for (let i = 0; i < n; i++) {
    const q = s.indexOf('\n', p);
    if (q < 0) return [-1, i];
    p = q + 1;
  }
  return [p, n];
}

export async function* logBatches(path: string, size: number, chunkBytes = 8 << 20): AsyncGenerator<LogBatch> {
  const fh = await open(path, 'r');
  try {
    const decoder = new StringDecoder('utf8');
    const buf = Buffer.allocUnsafe(chunkBytes);
    // complete lines not yet batched, each ending in "\n"
    let pending = '';
    let carry = '';
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
      const eof = bytesRead === 0;
      let s = carry + (eof ? decoder.end() : decoder.write(buf.subarray(0, bytesRead)));
      carry = '';
      // a "\r" at the end may be the first half of "\r\n": decide with the next chunk
      if (!eof && s.endsWith('\r')) {
        carry = '\r';
        s = s.slice(0, -1);
      }
      if (s.includes('\r')) s = s.replace(/\r\n?/g, '\n');
      if (eof) {
        if (s.length && !s.endsWith('\n')) s += '\n';
        pending += s;
      } else {
        const cut = s.lastIndexOf('\n') + 1;
        pending += s.slice(0, cut);
        carry = s.slice(cut) + carry;
      }
      // whole batches out of what is complete
      let start = 0;
      for (;;) {
        const [end, found] = afterNth(pending, start, size);
        if (end < 0) {
          if (eof && found > 0) yield { text: pending.slice(start, pending.length - 1), lines: found };
          break;
        }
        yield { text: pending.slice(start, end - 1), lines: size };
        start = end;
      }
      pending = eof ? '' : pending.slice(start);
      if (eof) return;
    }
  } finally {
    await fh.close();
  }
}
