// The machine a bench run measured: CPUs, memory (and how much of it was
// available, and what files in /dev/shm held: a run whose region cannot be
// faulted in is killed, and leftovers of killed runs stay there), Node, and
// whether the kernel's data access monitor (DAMON) ran meanwhile. A running kdamond
// samples physical pages every sampling interval and clears their accessed
// bits, then acts on regions it finds cold
// (here, a VM host's proactive reclaim: pageout). On this project's 2-vCPU VM
// it stalled the storage node, whose region is mapped whole, for 50–100 ms
// every 500 ms (docs/BENCHMARKS.md, session 33): a run's tail is then the
// monitor's, so the report names it beside the CPUs and memory.
//
// Read from DAMON's sysfs interface (Linux 5.18+); absent or unreadable means
// no monitor is known to run.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const DAMON_SYSFS = '/sys/kernel/mm/damon/admin';

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function numbered(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(a) - Number(b))
      .map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}

/** One line per running kdamond context, e.g. "DAMON (paddr, sampling every 500 ms; pageout)"; undefined when none runs. */
export function describeMemoryMonitors(root = DAMON_SYSFS): string | undefined {
  const running: string[] = [];
  for (const kdamond of numbered(path.join(root, 'kdamonds'))) {
    if (read(path.join(kdamond, 'state')) !== 'on') continue;
    for (const context of numbered(path.join(kdamond, 'contexts'))) {
      const operations = read(path.join(context, 'operations')) ?? 'unknown operations';
      const sampleUs = Number(read(path.join(context, 'monitoring_attrs', 'intervals', 'sample_us')));
      const actions = numbered(path.join(context, 'schemes'))
        .map((scheme) => read(path.join(scheme, 'action')))
        .filter((action): action is string => action !== undefined);
      const sampling = Number.isFinite(sampleUs) && sampleUs > 0 ? `, sampling every ${sampleUs >= 1000 ? `${sampleUs / 1000} ms` : `${sampleUs} µs`}` : '';
      running.push(`DAMON (${operations}${sampling}${actions.length > 0 ? `; ${actions.join(', ')}` : ''})`);
    }
  }
  return running.length > 0 ? running.join(', ') : undefined;
}

export interface Machine {
  cpus: number;
  /** Absent in client-defaults and breakdown results written before session 33. */
  memoryBytes?: number;
  /** Memory the kernel could hand out when the run started (MemAvailable); absent before session 34. */
  memoryAvailableBytes?: number;
  /** Bytes of files in /dev/shm when the run started: memory, taken until they are removed; absent before session 34 or without /dev/shm. */
  shmUsedBytes?: number;
  node: string;
  /** The kernel's memory monitors running when the run started (describeMemoryMonitors); absent: none known. */
  memoryMonitor?: string;
}

/** Bytes the files of the tmpfs at `dir` take; undefined where there is none. */
export function tmpfsUsedBytes(dir = '/dev/shm'): number | undefined {
  try {
    const s = fs.statfsSync(dir);
    return (s.blocks - s.bfree) * s.bsize;
  } catch {
    return undefined;
  }
}

export function describeMachine(): Machine {
  const memoryMonitor = describeMemoryMonitors();
  const shmUsedBytes = tmpfsUsedBytes();
  return {
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    // libuv reads MemAvailable: free memory plus what the kernel can reclaim at once.
    memoryAvailableBytes: os.freemem(),
    ...(shmUsedBytes !== undefined ? { shmUsedBytes } : {}),
    node: process.version,
    ...(memoryMonitor ? { memoryMonitor } : {}),
  };
}

/** /dev/shm holding less than this is not worth a mention. */
const SHM_MENTION_BYTES = 1024 ** 3;

const gib = (bytes: number, digits: number): string => (bytes / 1024 ** 3).toFixed(digits);

/** The report's first line. */
export function machineLine(machine: Machine): string {
  const shm = machine.shmUsedBytes !== undefined && machine.shmUsedBytes >= SHM_MENTION_BYTES ? `; files in /dev/shm took ${gib(machine.shmUsedBytes, 1)} GiB` : '';
  const available = machine.memoryAvailableBytes === undefined ? '' : ` (${gib(machine.memoryAvailableBytes, 1)} GiB available at the start${shm})`;
  const memory = machine.memoryBytes === undefined ? '' : `, ${gib(machine.memoryBytes, 0)} GiB${available}`;
  const monitor = machine.memoryMonitor
    ? ` The kernel's memory monitor ran meanwhile: ${machine.memoryMonitor}; each sampling clears the accessed bits of sampled pages, which on a VM that shadows page tables can stall a process with a large mapping (the storage node's region) for tens of ms.`
    : '';
  return `${machine.cpus} CPUs${memory}, Node ${machine.node}.${monitor}`;
}
