// An exclusive lock on a file that the kernel enforces and releases when the
// process dies (flock(2) on a descriptor opened close-on-exec).
import { nativeCall } from './errors';
import { native } from './native';

/**
 * Opens (creating) `path` and locks it exclusively without waiting; returns
 * the open descriptor, which holds the lock until it is closed. Throws
 * AddonError ERR_LOCKED when another open file holds the lock.
 */
export function lockFileExclusive(path: string): number {
  return nativeCall(() => native().lockFileExclusive(path));
}
