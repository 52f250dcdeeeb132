import { connect, type Socket } from 'node:net';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// What the proxy (scanning), doctor and the console's health page all need to know about clamd:
// where it listens, a one-shot command such as VERSION, and how old its signatures are. The
// streaming INSTREAM client stays with the proxy (proxy/virus-scan.ts).

const SIGNATURE_FILE = /\.(cvd|cld|cud|hdb|hsb|ndb|ldb|mdb|msb|hdu|ndu|ldu|cdb|fp|sfp|ign2|yar|yara|pdb|wdb|cbc)$/;

/** `/path/to/socket` or `host:port` (scan.clamd). */
export function clamdEndpoint(address: string): { path: string } | { host: string; port: number } {
  if (address.startsWith('/')) return { path: address };
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export function openClamd(address: string): Socket {
  const ep = clamdEndpoint(address);
  return 'path' in ep ? connect(ep.path) : connect(ep.port, ep.host);
}

/** One z-command (e.g. "zVERSION\0") and clamd's whole answer, bounded by timeoutMs. */
export function clamdCommand(address: string, cmd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = openClamd(address);
    let reply = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`clamd at ${address} did not answer within ${timeoutMs} ms`)); }, timeoutMs);
    s.on('connect', () => s.write(cmd));
    s.on('data', (d) => { reply += d.toString('latin1'); });
    s.on('error', (e) => { clearTimeout(timer); reject(new Error(`clamd at ${address}: ${e.message}`)); });
    s.on('close', () => { clearTimeout(timer); resolve(reply.replace(/\0+$/, '').trim()); });
  });
}

/** Where the managed clamd listens for a data directory. */
export function managedClamdSocket(dataDir: string): string {
  return join(dataDir, 'clamav', 'clamd.sock');
}

/** The clamd address the proxy uses: scan.clamd, else the managed one's socket. */
export function clamdAddress(scan: { clamd?: string | undefined }, dataDir: string): string {
  return scan.clamd ?? managedClamdSocket(dataDir);
}

/** The newest signature file's time in a database directory (null when it holds none). */
export function newestSignature(databaseDir: string): Date | null {
  let newest = 0;
  let names: string[];
  try {
    names = readdirSync(databaseDir);
  } catch {
    return null;
  }
  for (const n of names) {
    if (!SIGNATURE_FILE.test(n)) continue;
    try {
      newest = Math.max(newest, statSync(join(databaseDir, n)).mtimeMs);
    } catch { /* removed meanwhile */ }
  }
  return newest ? new Date(newest) : null;
}

/** The date in clamd's VERSION answer ("ClamAV 1.4.3/27850/Tue Dec  9 09:33:02 2025"); null for custom databases only. */
export function signatureDate(version: string): Date | null {
  const m = /^ClamAV [^/]+\/\d+\/(.+)$/.exec(version.trim());
  if (!m) return null;
  const d = new Date(m[1]!);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The supervision of the managed clamd, as the proxy role hands it to doctor and the health page. */
export interface ClamdSupervision {
  up: boolean;
  restarts: number;
  restartsLastHour: number;
}

export interface ClamdSupervisor {
  health(now?: number): ClamdSupervision;
  readonly logFile: string;
}
