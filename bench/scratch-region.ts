// Where the bench's copy limits write (memcpy, the copy between processes): a
// region file on /dev/shm (the temp dir elsewhere), faulted in first, as the
// storage node's is, and cut into slots of one copy each that the copies
// cycle through, so they do not all land in one cache-hot place.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Region } from '../addon';

/** A prefaulted region of slots of `sizeBytes`, in a directory of its own; close() removes both. */
export interface ScratchRegion {
  /** The directory the region file is in (free for the caller's other files, removed with it). */
  readonly dir: string;
  /** The k-th copy's slot, cycling through the region. */
  slot(k: number): Buffer;
  close(): void;
}

/** At least this much region, so small copies cycle through more than the CPU's caches hold. */
const SCRATCH_REGION_BYTES_MIN = 64 << 20;

export function openScratchRegion(name: string, sizeBytes: number): ScratchRegion {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, `rdmq-${name}-`));
  const regionBytes = Math.max(SCRATCH_REGION_BYTES_MIN, sizeBytes);
  let region: Region | undefined;
  try {
    region = Region.create(path.join(dir, 'region'), regionBytes);
    region.prefault(0, regionBytes);
  } catch (err) {
    region?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const view = region.bytes(0, regionBytes);
  const slots = Math.max(1, Math.floor(regionBytes / sizeBytes));
  return {
    dir,
    slot: (k) => view.subarray((k % slots) * sizeBytes, (k % slots) * sizeBytes + sizeBytes),
    close: () => {
      region!.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** MB/s of `copy(k)` for k = 0, 1, ... for about `seconds`, each moving `sizeBytes`. */
export function copiesMBps(seconds: number, sizeBytes: number, copy: (k: number) => void): number {
  let copies = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) copy(copies++);
  return (copies * sizeBytes) / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6;
}
