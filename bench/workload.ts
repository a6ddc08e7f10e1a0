// The workloads of one point, written once against the Door interface:
//   produce          producers alone (the topic is then dropped)
//   consume          consumers alone, over a topic filled first (the fill is not measured)
//   produce+consume  producers alone, then consumers over what they wrote (the default)
//   e2e              producers and consumers at once; end-to-end latency is
//                    a consumer's receive time minus the record's produce time
// CPU is counted over the measured phases only.
import { CpuMeter, CpuSeconds, ServerPids } from './cpu';
import { Door, Produced, RunClock, RunningConsumers } from './door';
import { LatencyRecorder } from './latency';
import { ConsumedCounts, ConsumptionLedger } from './ledger';

export type Workload = 'produce' | 'consume' | 'produce+consume' | 'e2e';

const WORKLOAD_WORDS = ['produce', 'consume', 'e2e', 'all'];

/** `--workload` values (repeatable, comma-separated) to the workloads to run, in order. */
export function parseWorkloads(words: string[] | undefined): Workload[] {
  const given = new Set((words ?? ['produce,consume']).flatMap((w) => w.split(',')).map((w) => w.trim()).filter((w) => w !== ''));
  for (const w of given) if (!WORKLOAD_WORDS.includes(w)) throw new Error(`unknown --workload ${w}; allowed: produce, consume, e2e, all`);
  if (given.size === 0) throw new Error('--workload needs a value: produce, consume, e2e or all');
  const all = given.has('all');
  const produce = all || given.has('produce');
  const consume = all || given.has('consume');
  const out: Workload[] = [];
  if (produce && consume) out.push('produce+consume');
  else if (produce) out.push('produce');
  else if (consume) out.push('consume');
  if (all || given.has('e2e')) out.push('e2e');
  return out;
}

export interface WorkloadOptions {
  totalBytes: number;
  maxSeconds: number;
  /** The server's processes, whose CPU is the server's. */
  serverPid: ServerPids | undefined;
  /** Consumers that deliver nothing for this long fail the point (default 30 s). */
  idleMs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface MeasuredPoint {
  workload: Workload;
  producerMBps?: number;
  consumerMBps?: number;
  /** Bytes moved in the measured phases (produced plus consumed): what CPU seconds are divided by. */
  movedBytes: number;
  producedRecords: number;
  consumed?: ConsumedCounts;
  publish: LatencyRecorder;
  e2e?: LatencyRecorder;
  cpu: CpuSeconds;
  /** The consumers' bytes per replica (storage node) they read from, where the door can tell. */
  readBytesByReplica?: Record<string, number>;
  /** The same per independent reader, when there are several (--fanout). */
  readBytesByReader?: Record<string, number>[];
  /** Independent readers, each of which delivered every record once (consumed counts all of them). */
  readers?: number;
}

const IDLE_MS_DEFAULT = 30_000;

export async function runWorkload(door: Door, workload: Workload, o: WorkloadOptions): Promise<MeasuredPoint> {
  const cpu = new CpuMeter(o.serverPid);
  const point = workload === 'e2e' ? await runEndToEnd(door, cpu, o) : await runPhases(door, workload, cpu, o);
  return { ...point, cpu: cpu.seconds };
}

function produceRun(o: WorkloadOptions, clock: RunClock, publish: LatencyRecorder, stamp: boolean, progressTotal: number) {
  return {
    totalBytes: o.totalBytes,
    deadline: process.hrtime.bigint() + BigInt(Math.round(o.maxSeconds * 1e9)),
    clock,
    stamp,
    publish,
    onProgress: (bytes: number) => o.onProgress?.(Math.min(bytes, o.totalBytes), progressTotal),
  };
}

async function runPhases(door: Door, workload: Exclude<Workload, 'e2e'>, cpu: CpuMeter, o: WorkloadOptions): Promise<Omit<MeasuredPoint, 'cpu'>> {
  const publish = new LatencyRecorder();
  const clock = new RunClock();
  const progressTotal = workload === 'produce' ? o.totalBytes : 2 * o.totalBytes;
  const produce = (): Promise<Produced> => door.produce(produceRun(o, clock, publish, false, progressTotal));
  // A consume-only point fills its topic first, outside the measured phase.
  const produced = workload === 'consume' ? await produce() : await cpu.measure(produce);
  const producerMBps = workload === 'consume' ? undefined : produced.bytes / produced.seconds / 1e6;
  if (workload === 'produce') return { workload, producerMBps, movedBytes: produced.bytes, producedRecords: produced.records, publish };
  const ledger = new ConsumptionLedger((bytes) => o.onProgress?.(Math.min(o.totalBytes, produced.bytes) + Math.min(bytes, o.totalBytes), progressTotal));
  let replicas: Pick<MeasuredPoint, 'readBytesByReplica' | 'readBytesByReader' | 'readers'> = {};
  const seconds = await cpu.measure(async () => {
    const consumers = await door.startConsumers({ ledger, clock, live: false, records: produced.records });
    try {
      // Each independent reader delivers everything once.
      await ledger.reach(produced.bytes * (consumers.readers ?? 1), o.idleMs ?? IDLE_MS_DEFAULT);
      return Number(process.hrtime.bigint() - consumers.readyAt) / 1e9;
    } finally {
      replicas = replicaCounts(consumers);
      await consumers.stop();
    }
  });
  const consumed = ledger.snapshot();
  return {
    workload,
    producerMBps,
    consumerMBps: consumed.bytes / seconds / 1e6,
    movedBytes: (workload === 'consume' ? 0 : produced.bytes) + consumed.bytes,
    producedRecords: produced.records,
    consumed,
    publish,
    ...replicas,
  };
}

function replicaCounts(consumers: RunningConsumers): Pick<MeasuredPoint, 'readBytesByReplica' | 'readBytesByReader' | 'readers'> {
  const readers = consumers.readers ?? 1;
  return {
    readBytesByReplica: consumers.readBytesByReplica?.(),
    ...(readers > 1 ? { readers, readBytesByReader: consumers.readBytesByReplicaPerReader?.() } : {}),
  };
}

async function runEndToEnd(door: Door, cpu: CpuMeter, o: WorkloadOptions): Promise<Omit<MeasuredPoint, 'cpu'>> {
  const publish = new LatencyRecorder();
  const e2e = new LatencyRecorder();
  const clock = new RunClock();
  const ledger = new ConsumptionLedger();
  return cpu.measure(async () => {
    // Consumers first, reading at the end of the empty topic, so that no
    // record waits for a consumer to join.
    const consumers = await door.startConsumers({ ledger, clock, live: true, e2e });
    try {
      const produced = await door.produce(produceRun(o, clock, publish, true, o.totalBytes));
      await ledger.reach(produced.bytes * (consumers.readers ?? 1), o.idleMs ?? IDLE_MS_DEFAULT);
      const seconds = clock.msSinceStart() / 1e3;
      const consumed = ledger.snapshot();
      return {
        workload: 'e2e' as const,
        producerMBps: produced.bytes / produced.seconds / 1e6,
        consumerMBps: consumed.bytes / seconds / 1e6,
        movedBytes: produced.bytes + consumed.bytes,
        producedRecords: produced.records,
        consumed,
        publish,
        e2e,
        ...replicaCounts(consumers),
      };
    } finally {
      await consumers.stop();
    }
  });
}
