import type { Config } from '../config/schema.ts';
import { clamdAddress, clamdCommand, newestSignature, signatureDate, type ClamdSupervision, type ClamdSupervisor } from '../net/clamd.ts';
import type { HealthItem } from './pipeline-health.ts';
import { metricValue } from './pipeline-health.ts';

// Virus scanning in words for `fairwatch doctor` and the console's /health page:
// on or off, whether clamd answers, how old its signatures are, what the scans came to since start
// and how often the managed clamd was restarted. `scanFacts` gathers (I/O); `scanHealth` is pure.

/** freshclam updates several times a day: a week without an update means it is not running */
export const SIGNATURES_STALE_DAYS = 7;

export interface ScanCounts { clean: number; infected: number; error: number; unscanned: number }

export interface ScanFacts {
  now: number;
  enabled: boolean;
  /** scan.clamd, or the managed clamd's socket */
  address: string;
  /** scan.clamd unset: fairwatch runs clamd itself */
  managed: boolean;
  onError: 'allow' | 'block';
  maxMB: number;
  databaseDir: string;
  /** clamd's VERSION answer; null when it did not answer */
  version: string | null;
  /** why it did not answer */
  versionError: string | null;
  /** managed clamd not answering and not supervised here: `clamd --version` of the installed binary, null when missing, undefined when not checked */
  installed: string | null | undefined;
  /** newest signatures (VERSION's date, else the newest file in scan.databaseDir for the managed clamd) */
  signatures: Date | null;
  /** the managed clamd's supervision, when this process runs it */
  supervision: (ClamdSupervision & { logFile: string }) | null;
  /** fairwatch_virus_scans_total by outcome; null when no proxy counts in this process */
  counts: ScanCounts | null;
}

/** The scan outcomes in metrics text; null when the metric is not there (no proxy in this process). */
export function scanCounts(metricsText: string): ScanCounts | null {
  const name = 'fairwatch_virus_scans_total';
  if (!metricsText.includes(`# TYPE ${name} `)) return null;
  const n = (outcome: string) => metricValue(metricsText, name, `outcome="${outcome}"`) ?? 0;
  return { clean: n('clean'), infected: n('infected'), error: n('error'), unscanned: n('unscanned') };
}

export async function scanFacts(o: {
  scan: Config['scan']; dataDir: string; metricsText: string;
  supervisor: ClamdSupervisor | null;
  /** `clamd --version` of the binary (asked only when the managed clamd is not running here); without it, not checked */
  installed?: (binary: string) => string | null;
  now?: number;
}): Promise<ScanFacts> {
  const { scan } = o;
  const managed = !scan.clamd;
  const address = clamdAddress(scan, o.dataDir);
  let version: string | null = null;
  let versionError: string | null = null;
  if (scan.enabled) {
    try {
      version = await clamdCommand(address, 'zVERSION\0', 3000);
      if (!version) versionError = 'it closed the connection without an answer';
    } catch (e) {
      versionError = (e as Error).message;
    }
  }
  const supervision = o.supervisor ? { ...o.supervisor.health(o.now), logFile: o.supervisor.logFile } : null;
  return {
    now: o.now ?? Date.now(),
    enabled: scan.enabled,
    address, managed, onError: scan.onError, maxMB: scan.maxMB, databaseDir: scan.databaseDir,
    version: version || null,
    versionError,
    installed: scan.enabled && managed && !version && !supervision ? o.installed?.(scan.clamdBinary) : undefined,
    signatures: (version ? signatureDate(version) : null) ?? (managed ? newestSignature(scan.databaseDir) : null),
    supervision,
    counts: scan.enabled ? scanCounts(o.metricsText) : null,
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Virus scanning in words, each item with what to do when something is to be done. */
export function scanHealth(f: ScanFacts): HealthItem[] {
  if (!f.enabled) return [{ key: 'scan', label: 'Virus scanning', level: 'ok', value: 'off (scan.enabled)' }];
  const items: HealthItem[] = [];
  const where = f.managed ? `a managed clamd on ${f.address}` : `clamd at ${f.address} (scan.clamd)`;
  const onError = f.onError === 'allow' ? 'they pass unscanned, flagged scan-error (scan.onError allow)' : 'they are blocked (scan.onError block)';
  items.push({ key: 'scan', label: 'Virus scanning', level: 'ok', value: `on: downloads up to ${f.maxMB} MB are checked by ${where}` });
  // clamd itself
  const s = f.supervision;
  const restarts = s ? `; ${plural(s.restartsLastHour, 'restart')} in the last hour, ${plural(s.restarts, 'restart')} since start` : '';
  if (f.version) {
    const level = s && s.restartsLastHour >= 3 ? 'warn' : 'ok';
    items.push({ key: 'clamd', label: 'clamd', level, value: `answers: ${f.version}${restarts}`, action: level === 'warn' ? `something keeps stopping it: look for the OOM killer (dmesg) and read ${s!.logFile}` : undefined });
  } else if (s) {
    items.push({ key: 'clamd', label: 'clamd', level: 'bad', value: `the managed clamd does not answer${s.up ? '' : ' and is being restarted'}${restarts}`, action: `downloads meanwhile: ${onError}; if it does not come back within a few minutes, read ${s.logFile}` });
  } else if (!f.managed) {
    items.push({ key: 'clamd', label: 'clamd', level: 'bad', value: `clamd at ${f.address} (scan.clamd) does not answer: ${f.versionError ?? 'no answer'}`, action: `downloads meanwhile: ${onError}; start that clamd or correct scan.clamd` });
  } else if (f.installed === null) {
    items.push({ key: 'clamd', label: 'clamd', level: 'bad', value: 'clamd is not installed, and scan.clamd is unset', action: 'run `sudo apt-get install -y clamav-daemon clamav-freshclam`, set scan.clamd to a running clamd, or turn scan.enabled off' });
  } else {
    items.push({ key: 'clamd', label: 'clamd', level: 'unknown', value: `${f.installed ?? 'installed'}: the managed clamd runs while \`fairwatch start\` (or the proxy role) does, on ${f.address}` });
  }
  // the signatures
  if (f.signatures) {
    const days = Math.max(0, (f.now - f.signatures.getTime()) / 86_400_000);
    const age = days < 1 ? 'less than a day old' : `${plural(Math.floor(days), 'day')} old`;
    items.push(days > SIGNATURES_STALE_DAYS
      ? { key: 'signatures', label: 'Virus signatures', level: 'bad', value: `the signatures are ${age} (${f.signatures.toISOString()}): new viruses are not recognised`, action: `freshclam updates them several times a day: check that it runs (\`systemctl status clamav-freshclam\`, or the compose clamav service) and can reach database.clamav.net${f.managed ? `, and that it writes to scan.databaseDir (${f.databaseDir})` : ''}` }
      : { key: 'signatures', label: 'Virus signatures', level: 'ok', value: `${age} (${f.signatures.toISOString()})` });
  } else if (f.managed) {
    items.push({ key: 'signatures', label: 'Virus signatures', level: 'bad', value: `no ClamAV signatures in ${f.databaseDir} (scan.databaseDir)`, action: 'run `sudo freshclam` (package clamav-freshclam), or point scan.databaseDir at a directory that has them' });
  } else if (f.version) {
    items.push({ key: 'signatures', label: 'Virus signatures', level: 'unknown', value: 'date unknown (clamd reports custom signatures only)' });
  }
  // what the scans came to
  const c = f.counts;
  if (!c) items.push({ key: 'scans', label: 'Virus scans', level: 'unknown', value: 'not counted in this process (the proxy runs elsewhere: see its metrics, fairwatch_virus_scans_total)' });
  else {
    const text = `since start: ${c.clean} clean, ${c.infected} infected (blocked), ${c.error} failed, ${c.unscanned} unscanned (above scan.maxMB)`;
    items.push(c.error > 0
      ? { key: 'scans', label: 'Virus scans', level: 'warn', value: text, action: `clamd failed or was slower than scan.timeoutSeconds ${plural(c.error, 'time')}: ${onError}; see the clamd line above` }
      : { key: 'scans', label: 'Virus scans', level: 'ok', value: text });
  }
  return items;
}
