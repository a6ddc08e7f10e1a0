// The machine's own limits, measured in the same run as the figures they
// bound: single-thread memcpy into a region on /dev/shm, TCP loopback
// throughput between two processes, kcat's produce and consume rates against
// a server that stores nothing and serves reads from memory, kafkajs's
// consume rate from that server, and the latency of one round trip between
// two processes (for one publish).
import { fork } from 'child_process';
import { Kafka, logLevel } from 'kafkajs';
import * as path from 'path';
import { measureRoundTrips } from '../addon';
import { startRole } from './cluster';
import { Door, RunClock } from './door';
import { ConsumptionLedger } from './ledger';
import { KafkajsDoor } from './kafkajs-door';
import { KcatDoor } from './kcat-door';
import { LatencyRecorder } from './latency';
import { copiesMBps, openScratchRegion } from './scratch-region';

/** MB/s of Buffer.copy of `sizeBytes` chunks into a prefaulted region, for about `seconds`. */
export function measureMemcpyMBps(sizeBytes: number, seconds = 0.5): number {
  const region = openScratchRegion('memcpy', sizeBytes);
  try {
    const source = Buffer.alloc(sizeBytes, 0x5a);
    return copiesMBps(seconds, sizeBytes, (k) => source.copy(region.slot(k)));
  } finally {
    region.close();
  }
}

/** Latency of one round trip between two processes, µs, and how often the VM held one up past the publish goal's 2 ms. */
export interface RoundTripFloor {
  count: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  over2msCount: number;
}

/** Round trips the breakdown's floor is taken from: ~2–3 s here, and 100 samples beyond its p99.9. */
export const ROUND_TRIPS_DEFAULT = 100_000;

/**
 * `count` blocking one-byte round trips between this process and a forked
 * child over a Unix socket, in native code (no event loop, no copy): the
 * least any message and its answer between two processes costs here. A
 * publish through a storage node without an RDMA NIC pays it at least twice
 * (the put, whose copy the node's CPU makes, and the commit to the broker).
 */
export function measureRoundTripFloor(count = ROUND_TRIPS_DEFAULT): RoundTripFloor {
  const sorted = measureRoundTrips(count).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { count, p50Us: at(0.5), p99Us: at(0.99), p999Us: at(0.999), maxUs: sorted[sorted.length - 1], over2msCount: sorted.filter((us) => us > 2000).length };
}

/**
 * MB/s that one child process can push to another over loopback TCP in
 * `chunkBytes` writes, for about `seconds`.
 */
export async function measureTcpLoopbackMBps(chunkBytes = 1 << 20, seconds = 1): Promise<number> {
  const script = path.join(__dirname, 'tcp-loopback.js');
  const receiver = fork(script, ['receive'], { stdio: 'inherit' });
  try {
    const result = new Promise<number>((resolve, reject) => {
      receiver.on('message', (m: { port?: number; mbps?: number }) => {
        if (m.port !== undefined) fork(script, ['send', String(m.port), String(chunkBytes), String(seconds)], { stdio: 'inherit' });
        if (m.mbps !== undefined) resolve(m.mbps);
      });
      receiver.once('exit', (code) => reject(new Error(`the TCP loopback receiver exited (${code}) before reporting`)));
    });
    return await result;
  } finally {
    receiver.kill();
  }
}

/** How many times each client ceiling is measured; the median is used (one run can be 3× off the next on a busy VM). */
export const CEILING_RUNS = 3;

/** The median of `runs` measurements, taken one after the other. */
export async function medianOf(runs: number, measure: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  return median(values);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('the median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * MB/s kcat (librdkafka) produces with the benchmark's settings into a Kafka
 * server that acknowledges without storing (null-kafka-server.ts), for at
 * most `maxBytes` or about `seconds`: the client's own ceiling on this
 * machine, which no Kafka-protocol server can beat.
 */
export async function measureKcatCeilingMBps(o: { batchBytes: number; recordBytes: number; acks: number }, maxBytes = 512 << 20, seconds = 3): Promise<number> {
  const server = await startRole<{ port: number }>([path.join(__dirname, 'null-kafka-server.js')]);
  try {
    const port = server.ready.port;
    const door = new KcatDoor('ceiling', { bootstrap: `127.0.0.1:${port}`, client: 'kcat', partitions: 1, consumers: 1, ...o }, async () => undefined);
    const produced = await door.produce({
      totalBytes: maxBytes,
      deadline: process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9)),
      clock: new RunClock(),
      stamp: false,
      publish: new LatencyRecorder(),
    });
    return produced.bytes / produced.seconds / 1e6;
  } finally {
    await server.signal('SIGTERM');
  }
}

/**
 * MB/s kcat (librdkafka) consumes with the benchmark's settings from a Kafka
 * server that answers every Fetch from batches built once in memory
 * (null-kafka-server.ts --serve), reading `totalBytes` of `recordBytes`
 * records in `batchBytes` batches from the beginning: the client's own
 * consume ceiling on this machine, measured the same way as the produce one
 * (the median of CEILING_RUNS reads, here from one server read once before).
 */
export async function measureKcatConsumeCeilingMBps(o: { batchBytes: number; recordBytes: number }, totalBytes: number, idleMs = 10_000): Promise<number> {
  return measureConsumeCeilingMBps(o, totalBytes, idleMs, (bootstrap) => new KcatDoor('ceiling', { bootstrap, client: 'kcat', partitions: 1, consumers: 1, acks: -1, ...o }, async () => undefined));
}

/**
 * The same for kafkajs, with the bench's consumer settings: a consumer
 * group of one member (the server keeps one for it), reading from the
 * beginning. The client's own consume ceiling on this machine, measured in
 * this process as the gateway's kafkajs figure is (as kcat's, above).
 */
export async function measureKafkajsConsumeCeilingMBps(o: { batchBytes: number; recordBytes: number }, totalBytes: number, idleMs = 10_000): Promise<number> {
  return measureConsumeCeilingMBps(o, totalBytes, idleMs, (bootstrap) => {
    const kafka = new Kafka({ clientId: 'rdmq-bench-ceiling', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    return new KafkajsDoor(kafka, 'ceiling', { bootstrap, client: 'kafkajs', partitions: 1, consumers: 1, acks: -1, ...o }, async () => undefined);
  });
}

/**
 * The median MB/s of CEILING_RUNS reads by one consumer of `door` of `totalBytes`
 * from one null server, each timed from its group join or start, after one
 * untimed read. The server builds what it serves in fresh memory, and on
 * this VM the kernel's first copy out of a page is ~4× a later one: a first
 * read keeps the server busy ~1 s longer per 512 MiB, and a consumer writing
 * to a pipe (kcat) then reads ~1.6× faster, because no CPU goes idle for its
 * threads to wake (a busy loop at nice 19 does the same). The gateway's rows
 * read from memory it has served from before, so the ceiling does too.
 */
async function measureConsumeCeilingMBps(o: { batchBytes: number; recordBytes: number }, totalBytes: number, idleMs: number, door: (bootstrap: string) => Door): Promise<number> {
  const server = await startRole<{ port: number; records: number }>([path.join(__dirname, 'null-kafka-server.js'), '--serve', String(o.batchBytes), String(o.recordBytes), String(totalBytes)]);
  const readAll = async (): Promise<number> => {
    const ledger = new ConsumptionLedger();
    const consumers = await door(`127.0.0.1:${server.ready.port}`).startConsumers({ ledger, clock: new RunClock(), live: false, records: server.ready.records });
    try {
      await ledger.reach(totalBytes, idleMs);
    } finally {
      await consumers.stop();
    }
    return ledger.bytes / (Number(process.hrtime.bigint() - consumers.readyAt) / 1e9) / 1e6;
  };
  try {
    await readAll();
    return await medianOf(CEILING_RUNS, readAll);
  } finally {
    await server.signal('SIGTERM');
  }
}
