import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync, copyFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The benchmarks' list directory at full UT1 size. The UT1 copy lacks adult/domains,
// malware/domains and phishing/domains (too large to ship), so they are topped up with synthetic
// names: 4.6M, 270k, 270k. Without the copy (or `small`), a smaller synthetic set.

export const WORDS = ['hot', 'cam', 'live', 'pics', 'tube', 'club', 'video', 'free', 'best', 'top', 'shop', 'news', 'star', 'zone', 'web', 'net', 'cloud', 'box', 'app', 'data'];
export const UT1 = process.env.UT1_DIR ?? '/work/shared/data/ut1';

const TLDS = ['com', 'net', 'org', 'fr', 'de', 'co.uk', 'ru', 'info', 'xyz', 'io'];
function synthName(i: number, salt: number): string {
  return `${WORDS[(i + salt) % 20]}${WORDS[(i * 7 + salt) % 20]}-${(i * 2654435761 % 4294967296).toString(36)}.${TLDS[(i + salt) % 10]}`;
}

function writeSynthetic(file: string, n: number, salt: number): void {
  if (existsSync(file) && statSync(file).size > n * 8) return;
  const chunk: string[] = [];
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    chunk.push(synthName(i, salt));
    if (chunk.length === 100_000) { parts.push(chunk.join('\n')); chunk.length = 0; }
  }
  parts.push(chunk.join('\n'));
  writeFileSync(file, parts.join('\n') + '\n');
}

/** The benchmark list directory (cached in the temp folder between runs). */
export function prepareLists(small = !existsSync(UT1)): string {
  const SIZES: Record<string, number> = small ? { adult: 300_000, malware: 20_000, phishing: 20_000 } : { adult: 4_600_000, malware: 270_000, phishing: 270_000 };
  const dir = join(tmpdir(), small ? 'fairwatch-bench-lists-small' : 'fairwatch-bench-lists-full');
  mkdirSync(dir, { recursive: true });
  if (!small) {
    for (const name of readdirSync(UT1)) {
      const src = join(UT1, name);
      const dst = join(dir, name);
      if (existsSync(dst) || lstatSync(src).isSymbolicLink()) continue;
      if (statSync(src).isDirectory()) {
        if (name in SIZES) {
          mkdirSync(dst, { recursive: true });
          for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dst, f));
        } else symlinkSync(src, dst);
      } else if (statSync(src).size < 64) copyFileSync(src, dst); // alias files such as porn → adult
    }
  } else {
    // without UT1: 20 synthetic categories of 10k names besides the three big ones
    for (let c = 0; c < 20; c++) {
      mkdirSync(join(dir, `cat${c}`), { recursive: true });
      writeSynthetic(join(dir, `cat${c}`, 'domains'), 10_000, 100 + c);
    }
    for (const name of ['social_networks', 'audio-video', 'webmail', 'shopping', 'gambling', 'games']) {
      mkdirSync(join(dir, name), { recursive: true });
      writeSynthetic(join(dir, name, 'domains'), 5_000, name.length * 13);
    }
  }
  let salt = 1;
  for (const [name, n] of Object.entries(SIZES)) {
    mkdirSync(join(dir, name), { recursive: true });
    writeSynthetic(join(dir, name, 'domains'), n, salt++);
  }
  return dir;
}

