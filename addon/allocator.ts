// How a server process's malloc treats the MiB-sized buffers it allocates and
// frees per request (Kafka frames, Fetch reads): kept for reuse while the
// process is busy, instead of mapped fresh and handed back each time (see
// keepFreedMemory in addon/src/module.cc for why that matters), and handed
// back to the system once it has gone idle, so a burst of large requests does
// not leave its memory resident for good.
import { native } from './native';

/** Blocks below this come from malloc's heap, not a mapping of their own (glibc's maximum). */
export const SERVER_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
/** Freed memory malloc keeps for reuse before it returns the rest to the system. */
export const SERVER_TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024;
/** How often the process looks at whether it has gone idle. */
const IDLE_CHECK_MS = 1000;
/** A check that found the process using less CPU than this share of one core counts as idle. */
const IDLE_CPU_SHARE = 0.02;
/** Idle checks in a row, after work, before the kept memory goes back to the system. */
const IDLE_CHECKS_BEFORE_RELEASE = 2;

let idleWatch: NodeJS.Timeout | undefined;

/**
 * Makes malloc keep freed memory for reuse in this process, and hand it back
 * once the process has been idle for two checks after work; returns whether
 * it did. Leaves glibc as configured when the operator set its own thresholds
 * (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) and off glibc.
 */
export function keepFreedMemory(env: NodeJS.ProcessEnv = process.env, checkEveryMs = IDLE_CHECK_MS): boolean {
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined || env.MALLOC_TRIM_THRESHOLD_ !== undefined) return false;
  const kept = native().keepFreedMemory(SERVER_MMAP_THRESHOLD_BYTES, SERVER_TRIM_THRESHOLD_BYTES);
  if (kept && idleWatch === undefined) idleWatch = releaseWhenIdle(checkEveryMs);
  return kept;
}

function releaseWhenIdle(checkEveryMs: number): NodeJS.Timeout {
  let last = process.cpuUsage();
  let worked = false;
  let idleChecks = 0;
  const timer = setInterval(() => {
    const now = process.cpuUsage();
    const usedMs = (now.user - last.user + now.system - last.system) / 1000;
    last = now;
    const busy = usedMs > checkEveryMs * IDLE_CPU_SHARE;
    if (busy) {
      worked = true;
      idleChecks = 0;
      return;
    }
    if (worked && ++idleChecks >= IDLE_CHECKS_BEFORE_RELEASE) {
      native().releaseFreedMemory();
      worked = false;
    }
  }, checkEveryMs);
  timer.unref();
  return timer;
}
