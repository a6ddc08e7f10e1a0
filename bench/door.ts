// A door is one way into and out of a topic that rdmq bench drives the same
// way: the fast-path SDK, kafkajs or kcat. Each door owns one benchmark topic
// for one point; the workloads (workload.ts) are written once against this
// interface and run through every door.
import { LatencyRecorder } from './latency';
import { ConsumptionLedger } from './ledger';

/** The clock of one run: latency over time is plotted against it. */
export class RunClock {
  private startedAt = process.hrtime.bigint();

  start(): void {
    this.startedAt = process.hrtime.bigint();
  }

  msSinceStart(now = process.hrtime.bigint()): number {
    return Number(now - this.startedAt) / 1e6;
  }
}

export interface ProduceRun {
  /** Stop after this many bytes, or at `deadline` (hrtime), whichever comes first. */
  totalBytes: number;
  deadline: bigint;
  /** Started by the door as it starts to send: latency over time counts from there. */
  clock: RunClock;
  /** Put an end-to-end stamp in the first record of each batch (e2e-stamp.ts). */
  stamp: boolean;
  /** Publish latency: send until acknowledged (not recorded by clients that do not report it: kcat). */
  publish: LatencyRecorder;
  onProgress?: (bytes: number) => void;
}

export interface Produced {
  /** Record bytes as the door counts them; its consumers count the same way. */
  bytes: number;
  records: number;
  seconds: number;
}

export interface ConsumeRun {
  ledger: ConsumptionLedger;
  clock: RunClock;
  /** The topic is being written while read: be reading at its end before resolving. */
  live: boolean;
  /**
   * Records a filled topic holds (not live): a consumer may stop after that
   * many instead of asking for more to learn it is at the end, which a Kafka
   * server answers only after the fetch's max wait (kcat -e: ~0.5 s more per
   * read against the gateway or Kafka, none against the null server).
   */
  records?: number;
  /** Where end-to-end latency goes, from the stamps; without it stamps are not looked for. */
  e2e?: LatencyRecorder;
}

export interface RunningConsumers {
  /** hrtime from which the consumers were reading (a group joined, partitions subscribed). */
  readyAt: bigint;
  /** Stops every consumer and waits for it (for kcat, until its process has exited). */
  stop(): Promise<void>;
  /** Bytes the consumers read per replica they read from (the fast path counts its one-sided gets; Kafka clients cannot tell). */
  readBytesByReplica?(): Record<string, number>;
  /** The same, one entry per independent reader (when there are several). */
  readBytesByReplicaPerReader?(): Record<string, number>[];
  /** Independent readers, each delivering every record once (rdmq bench --fanout; default 1). */
  readers?: number;
}

export interface Door {
  readonly topic: string;
  /** Writes until `totalBytes` or the deadline; resolves once everything written is acknowledged. */
  produce(run: ProduceRun): Promise<Produced>;
  /** Starts the consumers, which report every delivery to `run.ledger`; resolves once all are reading. */
  startConsumers(run: ConsumeRun): Promise<RunningConsumers>;
  /** Deletes the topic and disconnects. */
  close(): Promise<void>;
}
