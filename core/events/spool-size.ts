import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes in the event spool's segment files (every sink's directory under `root`); 0 when there is no spool yet. */
export function spoolBytes(root: string): number {
  let n = 0;
  try {
    for (const d of readdirSync(root)) {
      for (const f of readdirSync(join(root, d))) if (f.endsWith('.seg')) n += statSync(join(root, d, f)).size;
    }
  } catch {
    /* no spool yet */
  }
  return n;
}

/** Past this many bytes the event count is estimated from the part read (health pages stay quick). */
const COUNT_READ_MAX = 32 << 20;

/** Events and bytes in the spool's segments, for health: "412 events waiting in the spool". */
export function spoolContents(root: string): { events: number; bytes: number } {
  const bytes = spoolBytes(root);
  let read = 0;
  let events = 0;
  try {
    outer: for (const d of readdirSync(root)) {
      for (const f of readdirSync(join(root, d))) {
        if (!f.endsWith('.seg')) continue;
        if (read >= COUNT_READ_MAX) break outer;
        let text: string;
        try {
          text = readFileSync(join(root, d, f), 'utf8');
        } catch {
          continue; // replayed and removed meanwhile
        }
        read += Buffer.byteLength(text);
        for (const line of text.split('\n')) {
          if (!line) continue;
          try {
            events += (JSON.parse(line) as { e: unknown[] }).e.length;
          } catch {
            /* a torn line: replay reports it */
          }
        }
      }
    }
  } catch {
    return { events: 0, bytes: 0 };
  }
  if (read > 0 && bytes > read) events = Math.round((events * bytes) / read);
  return { events, bytes };
}
