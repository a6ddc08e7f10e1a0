// The workloads against an in-memory door: how phases are sequenced, timed
// and counted, without sockets. The real doors run in bench.test.ts.
import { setImmediate as nextTurn } from 'timers/promises';
import { ConsumeRun, Door, Produced, ProduceRun, RunningConsumers } from './door';
import { wallClockMs } from './e2e-stamp';
import { parseWorkloads, runWorkload } from './workload';

interface Entry {
  partition: number;
  offset: bigint;
  stampMs?: number;
}

const RECORD_BYTES = 1000;

/** A topic in memory: sends land at once, consumers hear of them on the next turn. */
class MemoryDoor implements Door {
  readonly topic = 'memory';
  private readonly log: Entry[] = [];
  private readonly listeners = new Set<(e: Entry) => void>();
  private readonly nextOffset: bigint[];

  constructor(private readonly partitions: number) {
    this.nextOffset = Array.from({ length: partitions }, () => 0n);
  }

  async produce(run: ProduceRun): Promise<Produced> {
    run.clock.start();
    const start = process.hrtime.bigint();
    let records = 0;
    while (records * RECORD_BYTES < run.totalBytes && process.hrtime.bigint() < run.deadline) {
      const t0 = process.hrtime.bigint();
      const partition = records % this.partitions;
      const entry = { partition, offset: this.nextOffset[partition]++, stampMs: run.stamp ? wallClockMs() : undefined };
      this.log.push(entry);
      for (const listener of this.listeners) listener(entry);
      await nextTurn();
      records++;
      run.publish.record(Number(process.hrtime.bigint() - t0) / 1e3, run.clock.msSinceStart());
    }
    return { bytes: records * RECORD_BYTES, records, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }

  async startConsumers(run: ConsumeRun): Promise<RunningConsumers> {
    const deliver = (e: Entry): void => {
      run.ledger.add(e.partition, e.offset, 1, RECORD_BYTES);
      if (run.e2e && e.stampMs !== undefined) run.e2e.record((wallClockMs() - e.stampMs) * 1e3, run.clock.msSinceStart());
    };
    const listener = (e: Entry): void => void nextTurn().then(() => deliver(e));
    this.listeners.add(listener);
    for (const e of this.log) listener(e);
    return { readyAt: process.hrtime.bigint(), stop: async () => void this.listeners.delete(listener) };
  }

  async close(): Promise<void> {}
}

const options = { totalBytes: 200 * RECORD_BYTES, maxSeconds: 10, serverPid: undefined, idleMs: 5000 };

describe('workloads', () => {
  it('--workload words become the workloads to run; the default is producers then consumers', () => {
    expect(parseWorkloads(undefined)).toEqual(['produce+consume']);
    expect(parseWorkloads(['produce'])).toEqual(['produce']);
    expect(parseWorkloads(['consume'])).toEqual(['consume']);
    expect(parseWorkloads(['produce', 'consume'])).toEqual(['produce+consume']);
    expect(parseWorkloads(['e2e'])).toEqual(['e2e']);
    expect(parseWorkloads(['all'])).toEqual(['produce+consume', 'e2e']);
    expect(parseWorkloads(['consume,e2e'])).toEqual(['consume', 'e2e']);
    expect(() => parseWorkloads(['both'])).toThrow(/unknown --workload both; allowed: produce, consume, e2e, all/);
  });

  it('produce+consume: producers alone, then consumers that read every record once', async () => {
    const point = await runWorkload(new MemoryDoor(2), 'produce+consume', options);
    expect(point.producerMBps).toBeGreaterThan(0);
    expect(point.consumerMBps).toBeGreaterThan(0);
    expect(point.consumed).toEqual({ bytes: 200 * RECORD_BYTES, records: 200, duplicates: 0, missing: 0 });
    expect(point.movedBytes).toBe(2 * 200 * RECORD_BYTES);
    expect(point.publish.count).toBe(200);
    expect(point.e2e).toBeUndefined();
    expect(point.cpu.client).toBeGreaterThan(0);
  });

  it('produce has no consumer figures, consume no producer figures and counts only what was read', async () => {
    const produce = await runWorkload(new MemoryDoor(1), 'produce', options);
    expect(produce.consumerMBps).toBeUndefined();
    expect(produce.consumed).toBeUndefined();
    expect(produce.movedBytes).toBe(200 * RECORD_BYTES);
    const consume = await runWorkload(new MemoryDoor(1), 'consume', options);
    expect(consume.producerMBps).toBeUndefined();
    expect(consume.consumerMBps).toBeGreaterThan(0);
    expect(consume.movedBytes).toBe(200 * RECORD_BYTES);
  });

  it('e2e: producers and consumers at once, with an end-to-end latency per stamped record', async () => {
    const point = await runWorkload(new MemoryDoor(3), 'e2e', options);
    expect(point.consumed?.records).toBe(200);
    expect(point.e2e?.count).toBe(200);
    const e2e = point.e2e!.summary();
    expect(e2e.p50).toBeGreaterThan(0);
    expect(e2e.p50).toBeLessThanOrEqual(e2e.p99);
    expect(e2e.p99).toBeLessThanOrEqual(e2e.p999);
    expect(e2e.p999).toBeLessThanOrEqual(e2e.max);
  });
});
