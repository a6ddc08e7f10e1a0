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

/** --data names something that is not, or cannot become, a directory. */
export class DataDirError extends Error {
  readonly code = 'ERR_DATA_DIR';
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

export interface DataDirLock {
  readonly dataDir: string;
  /** Gives the directory up (closing the descriptor drops the lock). Idempotent. */
  release(): void;
  /**
   * After a start that failed: gives the directory up and removes what this
   * process created in it since it locked it (the directory itself if it
   * made it), so a failed first start leaves no region file behind. What
   * was there before is never touched.
   */
  discardCreated(): void;
}

/**
 * Creates `dataDir` and its missing parents one level at a time and returns
 * the topmost one it created. Not `mkdir -p`: Node's recursive mkdir spins
 * forever where a parent exists but refuses new entries (/proc), and says a
 * bare EEXIST where a file is in the way.
 */
function makeDataDir(dataDir: string): string | undefined {
  const missing: string[] = [];
  let at = path.resolve(dataDir);
  while (!fs.existsSync(at)) {
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  if (fs.existsSync(at) && !fs.statSync(at).isDirectory()) {
    throw new DataDirError(at === path.resolve(dataDir) ? `--data ${dataDir} is a file, not a directory` : `--data ${dataDir}: ${at} is a file, not a directory`);
  }
  for (const dir of missing) {
    try {
      fs.mkdirSync(dir);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${path.dirname(dir)} takes no new directories` : (err as Error).message;
      throw new DataDirError(`cannot create data directory ${dataDir}: ${reason}`);
    }
  }
  return missing[0];
}

/** Creates `dataDir` if needed and locks it for this process, or throws DataDirLockedError naming the holder. */
export function lockDataDir(dataDir: string, command: string): DataDirLock {
  const createdDir = makeDataDir(dataDir);
  const entriesBefore = new Set(fs.readdirSync(dataDir));
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
  const release = (): void => {
    if (!held) return;
    held = false;
    fs.closeSync(fd);
  };
  return {
    dataDir,
    release,
    discardCreated() {
      // Listed while still holding the lock: no other rdmq process wrote here meanwhile.
      const created = createdDir ? [dataDir] : fs.readdirSync(dataDir).filter((e) => !entriesBefore.has(e)).map((e) => path.join(dataDir, e));
      release();
      for (const entry of created) fs.rmSync(entry, { recursive: true, force: true });
      if (createdDir) removeEmptyParents(path.resolve(dataDir), createdDir);
    },
  };
}

/** Removes the parents of `dir` this process created (up to `topmost`), while empty: another process may have started using one. */
function removeEmptyParents(dir: string, topmost: string): void {
  for (let at = path.dirname(dir); at.length >= topmost.length && at !== path.dirname(at); at = path.dirname(at)) {
    try {
      fs.rmdirSync(at);
    } catch {
      return;
    }
  }
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
