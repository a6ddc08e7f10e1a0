import * as fs from 'fs';
import { nativeCall } from './errors';
import { native, NativeRegion } from './native';

export type StoreGranularity = 'byte' | 'cache-line' | 'page';

/**
 * A file mapped with libpmem2: a DAX file on persistent memory, a file on
 * /dev/shm or an ordinary file (page granularity). Views returned by `bytes`
 * alias the mapping; after `close` they read as empty instead of faulting.
 * Not safe to share across worker threads.
 */
export class Region {
  private constructor(readonly native: NativeRegion) {}

  /** Creates the file if needed and extends it (sparsely) to `sizeBytes`. */
  static create(path: string, sizeBytes: number): Region {
    return new Region(nativeCall(() => new (native().Region)(path, sizeBytes, true)));
  }

  /** Opens an existing file of at least `sizeBytes` (0: map the whole file). */
  static open(path: string, sizeBytes = 0): Region {
    return new Region(nativeCall(() => new (native().Region)(path, sizeBytes, false)));
  }

  get sizeBytes(): number {
    return this.native.size;
  }

  get storeGranularity(): StoreGranularity {
    return this.native.storeGranularity;
  }

  /** The file is on a filesystem kept in memory only (tmpfs, ramfs): it does not survive a power loss, and persist is a no-op. */
  get memoryOnly(): boolean {
    return this.native.memoryOnly;
  }

  get path(): string {
    return this.native.path;
  }

  /** A Buffer over [offset, offset+length) of the mapping, without copying. */
  bytes(offset: number, length: number): Buffer {
    const view = nativeCall(() => this.native.buffer(offset, length));
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  }

  /** Makes [offset, offset+length) durable with pmem2's persist function. */
  persist(offset: number, length: number): void {
    nativeCall(() => this.native.persist(offset, length));
  }

  /** Faults the pages of a range in for writing, leaving their contents unchanged. */
  prefault(offset: number, length: number): void {
    nativeCall(() => this.native.prefault(offset, length));
  }

  /** Like prefault, on a thread-pool thread; close() waits for it. */
  prefaultInBackground(offset: number, length: number): void {
    nativeCall(() => this.native.prefaultInBackground(offset, length));
  }

  close(): void {
    nativeCall(() => this.native.close());
  }
}

/** Filesystems that keep their files in memory only: tmpfs, ramfs (statfs f_type; the addon checks the same for memoryOnly). */
const MEMORY_ONLY_FILESYSTEMS = [0x01021994, 0x858458f6];

/** `dir` is on a filesystem that keeps files in memory only, as Region.memoryOnly finds for a region file in it. */
export function inMemoryOnlyFilesystem(dir: string): boolean {
  return MEMORY_ONLY_FILESYSTEMS.includes(fs.statfsSync(dir).type);
}
