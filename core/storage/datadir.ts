import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from './redis.ts';
import { FairwatchError } from '../errors.ts';

// One process owns an embedded data directory at a time (the embedded ClickHouse engine allows no
// more). The owner writes fairwatch.lock with its pid; a second process gets a clear error naming
// the directory and the holder, and CLI commands talk to the holder over its control socket.

export class DataDirError extends FairwatchError<'FW_DATADIR_BUSY' | 'FW_DATADIR_UNUSABLE'> {
  constructor(code: 'FW_DATADIR_BUSY' | 'FW_DATADIR_UNUSABLE', message: string, readonly holder?: LockInfo) {
    super(code, message);
  }
}

export interface LockInfo {
  pid: number;
  role: string;
  startedAt: string;
  /** control socket of the holder, when it serves CLI commands */
  controlSocket?: string;
}

export const lockPath = (dataDir: string) => join(dataDir, 'fairwatch.lock');
export const controlSocketPath = (dataDir: string) => join(dataDir, 'control.sock');

/**
 * Creates the data directory (0700), or tightens an existing one to 0700 (it holds keys, the
 * database and Redis's files: no other account has any business in it), and checks it is writable;
 * errors name the directory and the fix.
 */
export function prepareDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if ((statSync(dataDir).mode & 0o077) !== 0) chmodSync(dataDir, 0o700);
    accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new DataDirError('FW_DATADIR_UNUSABLE', `data directory ${dataDir} is not usable (${code}): set FAIRWATCH_DATA_DIR to a directory this user can write, or fix its permissions`);
  }
}

/** The live holder of the data directory, or null (a stale lock of a dead process counts as none). */
export function currentHolder(dataDir: string): LockInfo | null {
  let info: LockInfo;
  try {
    info = JSON.parse(readFileSync(lockPath(dataDir), 'utf8')) as LockInfo;
  } catch {
    return null;
  }
  if (!Number.isInteger(info.pid) || info.pid === process.pid || !isAlive(info.pid)) return null;
  return info;
}

export class DataDirLock {
  private released = false;
  private constructor(readonly dataDir: string, readonly info: LockInfo) {}

  static acquire(dataDir: string, role: string, controlSocket?: string): DataDirLock {
    prepareDataDir(dataDir);
    const info: LockInfo = { pid: process.pid, role, startedAt: new Date().toISOString(), controlSocket };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(lockPath(dataDir), 'wx', 0o600);
        writeSync(fd, JSON.stringify(info));
        closeSync(fd);
        const lock = new DataDirLock(dataDir, info);
        process.on('exit', lock.exitHook);
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const holder = currentHolder(dataDir);
        if (holder) {
          throw new DataDirError('FW_DATADIR_BUSY',
            `data directory ${dataDir} is in use by process ${holder.pid} (fairwatch ${holder.role}, since ${holder.startedAt}): stop that process, or use another FAIRWATCH_DATA_DIR`, holder);
        }
        rmSync(lockPath(dataDir), { force: true }); // stale: its process is gone
      }
    }
    throw new DataDirError('FW_DATADIR_BUSY', `data directory ${dataDir}: could not take ${lockPath(dataDir)}`);
  }

  private exitHook = () => this.release();

  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.exitHook);
    try {
      const now = JSON.parse(readFileSync(lockPath(this.dataDir), 'utf8')) as LockInfo;
      if (now.pid === process.pid) rmSync(lockPath(this.dataDir), { force: true });
    } catch {
      /* already gone */
    }
  }
}
