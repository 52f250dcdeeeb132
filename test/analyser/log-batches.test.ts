import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { logBatches } from '../../analyser/import/log-batches.ts';
import { tempDir } from '../helpers/tmp.ts';

// The importer's line batches must match node:readline's lines exactly: the ledger hashes them, so
// a different split would make a re-import of an old log look new.

const tmp = tempDir('fw-log-batches-');
afterAll(() => tmp.cleanup());

async function viaReadline(path: string, size: number): Promise<Array<{ text: string; lines: number }>> {
  const out: Array<{ text: string; lines: number }> = [];
  let cur: string[] = [];
  for await (const line of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    cur.push(line);
    if (cur.length === size) {
      out.push({ text: cur.join('\n'), lines: size });
      cur = [];
    }
  }
  if (cur.length) out.push({ text: cur.join('\n'), lines: cur.length });
  return out;
}

const samples: Record<string, string> = {
  'plain, final newline': 'a\nbb\nccc\n',
  'no final newline': 'a\nbb\nccc',
  'CRLF': 'a\r\nbb\r\n\r\nccc\r\n',
  'lone CR and mixed': 'a\rb\r\nc\n\rd\r',
  'empty lines': '\n\n\nx\n\n',
  'multi-byte UTF-8 across chunks': 'é€😀\nnaïve café\n😀😀😀😀\n',
  'empty file': '',
  'one line': 'only',
};

describe('log batches', () => {
  for (const [name, text] of Object.entries(samples)) {
    it(`splits like readline: ${name}`, async () => {
      const path = join(tmp.dir, 'sample.log');
      writeFileSync(path, text);
      for (const size of [1, 2, 3, 1000]) {
        const want = await viaReadline(path, size);
        for (const chunk of [1, 2, 3, 5, 64, 8 << 20]) {
          const got: Array<{ text: string; lines: number }> = [];
          for await (const b of logBatches(path, size, chunk)) got.push(b);
          expect(got, `batch ${size}, chunk ${chunk}`).toEqual(want);
        }
      }
    });
  }
});
