import { readdirSync, statSync } from 'node:fs';
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
