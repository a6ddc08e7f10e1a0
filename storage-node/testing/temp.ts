import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** A fresh region path in a new directory under /dev/shm (or the OS temp dir). */
export function tempRegionPath(name = 'region'): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return path.join(fs.mkdtempSync(path.join(base, 'rdmq-storage-')), name);
}

export function removeRegionDir(regionPath: string): void {
  fs.rmSync(path.dirname(regionPath), { recursive: true, force: true });
}
