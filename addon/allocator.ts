// How a server process's malloc treats the MiB-sized buffers it allocates and
// frees per request (Kafka frames, Fetch reads): kept for reuse instead of
// mapped fresh and handed back each time (see keepFreedMemory in
// addon/src/module.cc for why that matters).
import { native } from './native';

/** Blocks below this come from malloc's heap, not a mapping of their own (glibc's maximum). */
export const SERVER_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
/** Freed memory malloc keeps for reuse before it returns the rest to the system. */
export const SERVER_TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024;

/**
 * Makes malloc keep freed memory for reuse in this process; returns whether it
 * did. Leaves glibc as configured when the operator set its own thresholds
 * (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) and off glibc.
 */
export function keepFreedMemory(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined || env.MALLOC_TRIM_THRESHOLD_ !== undefined) return false;
  return native().keepFreedMemory(SERVER_MMAP_THRESHOLD_BYTES, SERVER_TRIM_THRESHOLD_BYTES);
}
