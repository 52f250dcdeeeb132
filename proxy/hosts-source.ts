import { readFileSync, statSync } from 'node:fs';
import { HostsFileError, parseHostsFile, type HostsTable } from '../core/net/hosts-file.ts';

// proxy.hostsFile: names in it resolve from it before DNS (Squid's hosts_file), for split DNS and
// for tests that map names to loopback without any query. The file is read at start (an error stops
// the start, naming the line) and again when it changes; a broken edit keeps the last good table
// and says why once.

export class HostsSource {
  private table: HostsTable;
  private mtimeMs = 0;
  private checkedAt = 0;
  private lastError = '';

  constructor(readonly file: string, private readonly onError: (message: string) => void = () => {}, private readonly checkEveryMs = 2000) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
      this.mtimeMs = statSync(file).mtimeMs;
    } catch (e) {
      throw new HostsFileError(`proxy.hostsFile: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    this.table = parseHostsFile(text, file);
  }

  /** The file's addresses for a name, or undefined when it does not list the name. */
  lookup(host: string, now = Date.now()): readonly string[] | undefined {
    if (now - this.checkedAt >= this.checkEveryMs) this.reloadIfChanged(now);
    return this.table.get(host);
  }

  private reloadIfChanged(now: number): void {
    this.checkedAt = now;
    try {
      const m = statSync(this.file).mtimeMs;
      if (m === this.mtimeMs) return;
      this.table = parseHostsFile(readFileSync(this.file, 'utf8'), this.file);
      this.mtimeMs = m;
      this.lastError = '';
    } catch (e) {
      const message = (e as Error).message;
      if (message !== this.lastError) this.onError(`proxy.hostsFile not reloaded, the last good one stays: ${message}`);
      this.lastError = message;
    }
  }
}
