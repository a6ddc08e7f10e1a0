// One process owns a data directory. Two servers on one region and metadata
// log would each hand out the same offsets and overwrite each other's
// segments, so `rdmq start`, `rdmq storage` and `rdmq broker` take an
// exclusive lock on `<data>/lock` before they open anything in it. The kernel
// holds the lock for the life of the process (flock on an open descriptor)
// and drops it when the process dies, however it dies: a stale lock file
// never blocks a restart. The file names its holder, so the second process
// can say who is in the way.
import * as fs from 'fs';
import * as path from 'path';
import { AddonError, lockFileExclusive } from '../addon';

export const LOCK_FILE_NAME = 'lock';

export interface DataDirHolder {
  pid: number;
  command: string;
  sinceIso: string;
}

export class DataDirLockedError extends Error {
  readonly code = 'ERR_DATA_DIR_LOCKED';
  constructor(
    readonly dataDir: string,
    readonly holder: DataDirHolder | undefined,
  ) {
    super(
      holder
        ? `data directory ${dataDir} is in use by pid ${holder.pid} (${holder.command}, since ${holder.sinceIso}); stop it or choose another --data`
        : `data directory ${dataDir} is in use by another process; stop it or choose another --data`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly dataDir: string;
  /** Gives the directory up (closing the descriptor drops the lock). Idempotent. */
  release(): void;
}

/** Creates `dataDir` if needed and locks it for this process, or throws DataDirLockedError naming the holder. */
export function lockDataDir(dataDir: string, command: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE_NAME);
  let fd: number;
  try {
    fd = lockFileExclusive(file);
  } catch (err) {
    if (err instanceof AddonError && err.code === 'ERR_LOCKED') throw new DataDirLockedError(dataDir, readHolder(file));
    throw err;
  }
  const holder: DataDirHolder = { pid: process.pid, command, sinceIso: new Date().toISOString() };
  const text = JSON.stringify(holder) + '\n';
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, text, 0);
  let held = true;
  return {
    dataDir,
    release() {
      if (!held) return;
      held = false;
      fs.closeSync(fd);
    },
  };
}

/** The holder a lock file names; undefined while it is being written or when it is not ours. */
function readHolder(file: string): DataDirHolder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<DataDirHolder>;
    if (typeof parsed.pid === 'number' && typeof parsed.command === 'string' && typeof parsed.sinceIso === 'string') {
      return { pid: parsed.pid, command: parsed.command, sinceIso: parsed.sinceIso };
    }
  } catch {
    // Written by the holder right after it locks; a reader can come in between.
  }
  return undefined;
}
