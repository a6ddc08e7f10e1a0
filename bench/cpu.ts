// CPU time of the processes a benchmark point involves, so results can say
// how many CPU seconds each spent per GB moved.
import * as fs from 'fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds of another process so far (0 if it is gone). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Measures CPU seconds spent by this process and by `serverPid` around `fn`. */
export async function withCpu<T>(serverPid: number | undefined, fn: () => Promise<T>): Promise<{ value: T; clientCpuSeconds: number; serverCpuSeconds: number }> {
  const client0 = ownCpuSeconds();
  const server0 = processCpuSeconds(serverPid);
  const value = await fn();
  return { value, clientCpuSeconds: ownCpuSeconds() - client0, serverCpuSeconds: processCpuSeconds(serverPid) - server0 };
}
