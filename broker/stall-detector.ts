// Tells how long this process was stalled — stopped (SIGSTOP), paused by a
// long GC, starved on an overloaded host — so that leases the broker grants
// are not lost to its own stall: a producer cannot be heard while the broker
// is not running. A timer that should fire every `tickMs` is compared with
// the wall clock; every caller that is about to judge a lease calls `check`
// first, since after a stall I/O callbacks may run before any timer does.
//
// Contract: single-threaded; `onStall` runs synchronously inside `check`.

export class StallDetector {
  private lastSeenMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly tickMs: number,
    /** Lateness beyond this counts as a stall (ms). */
    private readonly toleranceMs: number,
    private readonly onStall: (stalledMs: number) => void,
  ) {
    this.lastSeenMs = Date.now();
    this.timer = setInterval(() => this.check(), tickMs);
    this.timer.unref();
  }

  /** Credits a stall since the last check to `onStall`; returns the current time. */
  check(nowMs = Date.now()): number {
    const lateMs = nowMs - this.lastSeenMs - this.tickMs;
    this.lastSeenMs = nowMs;
    if (lateMs > this.toleranceMs) this.onStall(lateMs);
    return nowMs;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
