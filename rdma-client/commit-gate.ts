// When a partition's written batches go to the broker as one commit.
//
// A commit costs the same message, broker step and storage step whether it
// carries one batch or eight, so batches that finish their puts while a
// commit is on its way wait and go together in the next one (group commit).
// A lone producer never waits: with nothing in flight its batch is committed
// at once. `everyBatches` and `delayUs` add what Kafka's batch.size and
// linger.ms do: wait for that many batches, or at most that long.
//
// Contract: single-threaded (JS); `commit` settles once the broker answered.

export interface CommitPolicy {
  /** Commit once this many batches are ready (default 1). */
  everyBatches: number;
  /** ... or once the first of them has waited this many microseconds (0: do not wait for more). */
  delayUs: number;
  /** Commits of one partition on their way at once (default 2 in the producer); batches ready meanwhile wait for the next. */
  inFlightMax: number;
}

/** What the gate's owner has now: batches whose puts are complete, and puts still under way. */
export interface CommitBacklog {
  ready: number;
  putsInFlight: number;
}

export class CommitGate {
  private inFlight = 0;
  private closed = false;
  private cancelTimer: (() => void) | undefined;
  /** The delay ran out for the batches waiting now: they go with the next commit the limit allows. */
  private lingered = false;

  constructor(
    private readonly policy: CommitPolicy,
    private readonly backlog: () => CommitBacklog,
    private readonly commit: () => Promise<unknown>,
  ) {}

  /** Something changed (a put completed, a commit was answered): commits now if it is time. */
  poke(): void {
    if (this.closed) return;
    const { ready, putsInFlight } = this.backlog();
    if (ready === 0) {
      this.stopTimer();
      this.lingered = false;
      return;
    }
    if (this.inFlight >= this.policy.inFlightMax) return;
    const full = ready >= this.policy.everyBatches;
    // Without a delay, a short group does not wait for batches that are not even being put.
    const nothingComing = this.policy.delayUs === 0 && putsInFlight === 0;
    if (full || nothingComing || this.lingered) {
      this.send();
    } else if (this.policy.delayUs > 0 && !this.cancelTimer) {
      this.cancelTimer = afterMicroseconds(this.policy.delayUs, () => {
        this.cancelTimer = undefined;
        this.lingered = true;
        this.poke();
      });
    }
  }

  /** No more commits from this gate (its timer is stopped; commits already sent still settle). */
  close(): void {
    this.closed = true;
    this.stopTimer();
  }

  private send(): void {
    this.stopTimer();
    this.lingered = false;
    this.inFlight++;
    const settled = (): void => {
      this.inFlight--;
      this.poke();
    };
    this.commit().then(settled, settled);
  }

  private stopTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }
}

/** How early a millisecond timer may fire or how late it may be, as far as afterMicroseconds relies on it. */
const TIMER_SLACK_US = 1500;

/**
 * Calls `fn` after `us` microseconds; returns a function that cancels it.
 * Node's timers count whole milliseconds, so the last part of the wait (under
 * TIMER_SLACK_US) is spent checking the clock once per event-loop turn: that
 * keeps the loop busy for at most that long, only while a commit waits.
 */
export function afterMicroseconds(us: number, fn: () => void): () => void {
  const due = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const check = (): void => {
    timer = undefined;
    immediate = undefined;
    if (cancelled) return;
    const leftUs = Number(due - process.hrtime.bigint()) / 1000;
    if (leftUs <= 0) fn();
    else if (leftUs > TIMER_SLACK_US) timer = setTimeout(check, Math.floor((leftUs - TIMER_SLACK_US) / 1000) || 1);
    else immediate = setImmediate(check);
  };
  check();
  return () => {
    cancelled = true;
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}
