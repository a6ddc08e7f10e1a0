// CPU time of the processes a benchmark point involves, so results can say
// how many CPU seconds each spent per GB moved. The client side is this
// process plus the client processes it ran (kcat): Linux adds a child's CPU
// time to its parent's cutime/cstime when the parent waits for it, which
// node does before it emits 'exit'. So a child that has exited inside a
// measured phase is counted exactly once, whatever it did, and one that is
// still running is not counted at all: a phase must wait for its children.
import * as fs from 'fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * Run time of each live thread of another process, in seconds, by thread id,
 * from /proc/PID/task/TID/schedstat (nanoseconds; /proc/PID/stat counts in
 * 10 ms ticks, too coarse for a phase in which a server spends a few
 * milliseconds). Empty if the process is gone.
 */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const threads = new Map<number, number>();
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      if (Number.isFinite(ns)) threads.set(Number(tid), ns / 1e9);
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return threads;
}

/**
 * CPU seconds a process's threads ran between two `threadCpuSeconds` readings:
 * threads alive at the end count from their earlier reading (or from zero if
 * they started since). A thread that exited in between loses its time in
 * between; a server's threads (event loop, libuv and V8 pools, UCX progress)
 * live as long as it does.
 */
function threadCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [tid, seconds] of after) sum += Math.max(0, seconds - (before.get(tid) ?? 0));
  return sum;
}

export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** CPU seconds of this process's children that have exited and been waited for (cutime + cstime of /proc/self/stat). */
export function reapedChildrenCpuSeconds(): number {
  // Fields after the command name (which may contain spaces) start after the last ')':
  // state(0) ... utime(11) stime(12) cutime(13) cstime(14).
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return (fields[13] + fields[14]) / TICKS_PER_SECOND;
}

export interface CpuSeconds {
  /** This process and its reaped children. */
  client: number;
  /** The reaped children alone (kcat), included in `client`. */
  clientChildren: number;
  server: number;
  /** `server` by role, when the server's processes were named by role (the roles apart). */
  serverByRole?: Record<string, number>;
}

/** The server's processes: one pid, several, or each by its role (`{ storage, broker }` apart). */
export type ServerPids = number | number[] | Record<string, number>;

/**
 * Adds up CPU seconds over the measured phases of a point (a fill phase that
 * is not part of the figure is left out). Phases must not overlap.
 */
export class CpuMeter {
  private readonly totals: CpuSeconds = { client: 0, clientChildren: 0, server: 0 };
  private readonly roles: string[];
  private readonly pids: number[];

  /** `serverPids`: the server's processes (one for rdmq start; storage node, broker and gateway apart, by role). */
  constructor(serverPids: ServerPids | undefined) {
    if (serverPids === undefined || typeof serverPids === 'number' || Array.isArray(serverPids)) {
      this.roles = [];
      this.pids = serverPids === undefined ? [] : typeof serverPids === 'number' ? [serverPids] : serverPids;
    } else {
      this.roles = Object.keys(serverPids);
      this.pids = Object.values(serverPids);
      this.totals.serverByRole = Object.fromEntries(this.roles.map((role) => [role, 0]));
    }
  }

  private serverThreads(): Map<number, number>[] {
    return this.pids.map((pid) => threadCpuSeconds(pid));
  }

  async measure<T>(fn: () => Promise<T>): Promise<T> {
    const own0 = ownCpuSeconds();
    const children0 = reapedChildrenCpuSeconds();
    const server0 = this.serverThreads();
    try {
      return await fn();
    } finally {
      const children = reapedChildrenCpuSeconds() - children0;
      this.totals.clientChildren += children;
      this.totals.client += ownCpuSeconds() - own0 + children;
      const spent = this.serverThreads().map((after, i) => threadCpuDelta(server0[i], after));
      this.totals.server += spent.reduce((sum, seconds) => sum + seconds, 0);
      this.roles.forEach((role, i) => (this.totals.serverByRole![role] += spent[i]));
    }
  }

  get seconds(): CpuSeconds {
    return { ...this.totals, ...(this.totals.serverByRole ? { serverByRole: { ...this.totals.serverByRole } } : {}) };
  }
}
