import * as fs from 'fs';
import * as path from 'path';
import { decodeRecordBatch, readBatchHeader, splitBatches } from '../format';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { Rdmq, RdmqError } from '.';
import { BatchBuffers } from './batch-buffers';
import { Connection } from './connection';
import { PartitionFetcher } from './fetcher';

/** A new topic of `batches` sends of ten ~10 KB records (one batch each): batch b holds offsets 10b..10b+9, record i's value `${i}:zzz...`. */
async function fillTopic(control: string, topic: string, batches: number): Promise<void> {
  const rdmq = new Rdmq({ control });
  const admin = rdmq.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic }] });
  await admin.disconnect();
  const producer = rdmq.producer();
  await producer.connect();
  for (let b = 0; b < batches; b++) {
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `${b * 10 + i}:${'z'.repeat(10_000)}` })) });
  }
  await producer.disconnect();
}

describe('PartitionFetcher', () => {
  let cluster: ClusterProcess;
  let connection: Connection;
  let fetcher: PartitionFetcher;

  beforeAll(async () => {
    cluster = await startCluster({ segmentSize: '1M', regionSize: '64M' });
    await fillTopic(cluster.control, 'fetch', 30);
    connection = await Connection.open({ control: cluster.control });
    fetcher = new PartitionFetcher(connection, 'fetch', 0);
    await fetcher.open();
  });

  afterAll(async () => {
    await fetcher.close();
    await connection.close();
    await cluster.stop();
  });

  const baseOffsets = (records: Buffer): bigint[] => splitBatches(records, { batchBytesMax: 1 << 20 }).batches.map((b) => readBatchHeader(records, b.offset).baseOffset);

  it('returns whole batches starting with the one that holds the offset, across segment boundaries', async () => {
    const { records, highWatermark, logStartOffset } = await fetcher.fetch(15n, 10 << 20);
    expect(highWatermark).toBe(300n);
    expect(logStartOffset).toBe(0n);
    const bases = baseOffsets(records);
    expect(bases[0]).toBe(10n);
    expect(bases).toEqual(Array.from({ length: 29 }, (_, i) => BigInt(10 + i * 10)));
  });

  it('returns at least one batch even when it is larger than max bytes, and continues where it stopped', async () => {
    const first = await fetcher.fetch(0n, 1);
    expect(baseOffsets(first.records)).toEqual([0n]);
    const second = await fetcher.fetch(10n, 1);
    expect(baseOffsets(second.records)).toEqual([10n]);
    // The batch (~100 KB) is longer than the first read (64 KiB): its start and the rest read after are one intact batch.
    const decoded = await decodeRecordBatch(second.records, 0);
    expect(decoded.records.map((r) => String(r.value).split(':')[0])).toEqual(Array.from({ length: 10 }, (_, i) => String(10 + i)));
  });

  it('stops before the batch that would take it past max bytes, and the next fetch starts there', async () => {
    const first = await fetcher.fetch(0n, 250_000);
    expect(baseOffsets(first.records)).toEqual([0n, 10n]);
    expect(first.records.length).toBeLessThanOrEqual(250_000);
    const next = await fetcher.fetch(20n, 250_000);
    expect(baseOffsets(next.records)).toEqual([20n, 30n]);
  });

  it('reads ahead within its budget: a consumer walking the partition gets the same bytes, and the budget comes back', async () => {
    const budget = {
      used: 0,
      tryTake(bytes: number) {
        if (this.used + bytes > 1 << 20) return false;
        this.used += bytes;
        return true;
      },
      give(bytes: number) {
        this.used -= bytes;
      },
    };
    // A connection of its own: closing a second view of the partition on the shared one would end its subscription.
    const own = await Connection.open({ control: cluster.control });
    const reader = new PartitionFetcher(own, 'fetch', 0, budget);
    await reader.open();
    try {
      const values: string[] = [];
      let offset = 0n;
      while (offset < 300n) {
        const got = await reader.fetch(offset, 250_000);
        // The same bytes as a reader without read-ahead returns.
        expect(got.records.equals((await fetcher.fetch(offset, 250_000)).records)).toBe(true);
        for (const span of splitBatches(got.records, { batchBytesMax: 1 << 20 }).batches) {
          const batch = await decodeRecordBatch(got.records, span.offset);
          values.push(...batch.records.map((r) => String(r.value).split(':')[0]));
          offset = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) + 1n;
        }
        // Before the end it has read what follows; at the end there is nothing to read.
        expect(budget.used > 0).toBe(offset < 300n);
      }
      expect(values).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
      // Two consumers at their own places each find their read-ahead, and get the same bytes as without.
      const a = await reader.fetch(0n, 250_000);
      const afterFirst = budget.used;
      const b = await reader.fetch(100n, 250_000);
      expect(afterFirst).toBeGreaterThan(0);
      expect(budget.used).toBeGreaterThan(afterFirst); // kept beside the first, not instead of it
      for (const [got, next] of [[a, 20n], [b, 120n]] as const) {
        expect(baseOffsets(got.records)[0]).toBe(next - 20n);
        expect((await reader.fetch(next, 250_000)).records.equals((await fetcher.fetch(next, 250_000)).records)).toBe(true);
      }
    } finally {
      await reader.close();
      await own.close();
    }
    expect(budget.used).toBe(0);
  });

  it('reads ahead as much as the consumer asks for, and answers the next fetch from it in pieces that together are the same bytes', async () => {
    let used = 0;
    const takes: number[] = [];
    const budget = { tryTake: (bytes: number) => (takes.push(bytes), (used += bytes), true), give: (bytes: number) => void (used -= bytes) };
    const own = await Connection.open({ control: cluster.control });
    const reader = new PartitionFetcher(own, 'fetch', 0, budget);
    await reader.open();
    try {
      // Batches of ~100 KB: 150 000 bytes answer one, and the read-ahead covers the next 150 000 (up to the segment's end), not just 100 000.
      for (let offset = 0n; offset < 290n; offset += 10n) {
        const got = await reader.fetchChunks(offset, 150_000);
        expect(Buffer.concat(got.chunks).equals((await fetcher.fetch(offset, 150_000)).records)).toBe(true);
        expect(got.sizeBytes).toBe(Buffer.concat(got.chunks).length);
      }
      expect(takes).toContain(150_000);
      expect(Math.max(...takes)).toBe(150_000);
    } finally {
      await reader.close();
      await own.close();
    }
    expect(used).toBe(0);
  });

  it('reads into pooled buffers that release gives back: later reads use them again, an answer not yet released keeps its bytes, and every answer is what a reader without a pool returns', async () => {
    const pool = new BatchBuffers(8 << 20);
    const budget = { tryTake: () => true, give: () => undefined };
    const own = await Connection.open({ control: cluster.control });
    const reader = new PartitionFetcher(own, 'fetch', 0, budget, undefined, pool);
    await reader.open();
    const nextOffset = (records: Buffer): bigint => {
      const spans = splitBatches(records, { batchBytesMax: 1 << 20 }).batches;
      const last = readBatchHeader(records, spans[spans.length - 1].offset);
      return last.baseOffset + BigInt(last.lastOffsetDelta) + 1n;
    };
    try {
      const seen = new Set<ArrayBufferLike>();
      let readAgain = 0;
      for (let offset = 0n; offset < 300n; ) {
        const got = await reader.fetchChunks(offset, 150_000);
        const bytes = Buffer.concat(got.chunks);
        expect(bytes.equals((await fetcher.fetch(offset, 150_000)).records)).toBe(true);
        for (const chunk of got.chunks) {
          if (seen.has(chunk.buffer)) readAgain++;
          seen.add(chunk.buffer);
        }
        got.release();
        got.release(); // a second release gives nothing back twice
        offset = nextOffset(bytes);
      }
      expect(readAgain).toBeGreaterThan(0);
      // An answer still being written keeps its buffers out of the pool: reads after it never land in them.
      const held = await reader.fetchChunks(0n, 150_000);
      const before = Buffer.concat(held.chunks);
      for (let offset = nextOffset(before); offset < 300n; ) {
        const got = await reader.fetchChunks(offset, 150_000);
        expect(got.chunks.some((c) => held.chunks.some((h) => h.buffer === c.buffer))).toBe(false);
        offset = nextOffset(Buffer.concat(got.chunks));
        got.release();
      }
      expect(Buffer.concat(held.chunks).equals(before)).toBe(true);
      held.release();
      // fetch() copies a pooled answer out: what it returns is no pool buffer's.
      const records = (await reader.fetch(0n, 150_000)).records;
      const again = await reader.fetchChunks(nextOffset(records), 150_000);
      expect(again.chunks.some((c) => c.buffer === records.buffer)).toBe(false);
      again.release();
    } finally {
      await reader.close();
      await own.close();
    }
    expect(pool.idleBytes).toBeGreaterThan(0);
  });

  it('returns nothing at the high watermark and OFFSET_OUT_OF_RANGE beyond it', async () => {
    expect((await fetcher.fetch(300n, 1 << 20)).records.length).toBe(0);
    await expect(fetcher.fetch(301n, 1 << 20)).rejects.toMatchObject({ errorCode: 1 });
    await expect(fetcher.fetch(301n, 1 << 20)).rejects.toBeInstanceOf(RdmqError);
  });

  it('waits for new data until it is pushed, or until the timeout', async () => {
    const started = Date.now();
    await fetcher.waitForData(300n, 200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    const waiting = fetcher.waitForData(300n, 10_000);
    const producer = new Rdmq({ control: cluster.control }).producer();
    await producer.connect();
    await producer.send({ topic: 'fetch', messages: [{ value: 'new' }] });
    await producer.disconnect();
    await waiting;
    expect(fetcher.highWatermark).toBe(301n);
    expect(baseOffsets((await fetcher.fetch(300n, 1 << 20)).records)).toEqual([300n]);
  });
});

describe('PartitionFetcher reading ahead over a damaged batch', () => {
  it('checks what it read ahead when it lands: the batches before the damaged one are served, the fetch at it fails', async () => {
    // The scrubber off: nothing fences the batch, only the fetcher's own check can find it.
    const cluster = await startCluster({ segmentSize: '1M', regionSize: '64M', extraArgs: ['--scrub-rate', '0'] });
    const connection = await Connection.open({ control: cluster.control });
    const fetcher = new PartitionFetcher(connection, 'ahead', 0, { tryTake: () => true, give: () => undefined }, undefined, new BatchBuffers(8 << 20));
    try {
      // Segments grow (~124 KiB, 252 KiB, 508 KiB, ...): batches 3 to 7 share the third.
      await fillTopic(cluster.control, 'ahead', 10);
      // One byte of record 65's value (batch 6) flipped in the region file, as a failing disk would: only its CRC can tell.
      const region = path.join(cluster.dataDir, 'region');
      const at = fs.readFileSync(region).indexOf('65:zzzz');
      expect(at).toBeGreaterThan(0);
      const fd = fs.openSync(region, 'r+');
      fs.writeSync(fd, Buffer.from('y'), 0, 1, at + 5000);
      fs.closeSync(fd);
      await fetcher.open();
      const values = async (records: Buffer): Promise<number[]> => {
        const out: number[] = [];
        for (const span of splitBatches(records, { batchBytesMax: 1 << 20 }).batches) {
          for (const r of (await decodeRecordBatch(records, span.offset)).records) out.push(Number(r.value!.toString().split(':')[0]));
        }
        return out;
      };
      const offsets = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
      // Batches 3 and 4; what follows (batches 5, 6 and part of 7) is read ahead.
      expect(await values((await fetcher.fetch(30n, 250_000)).records)).toEqual(offsets(30, 20));
      // Served from the read-ahead: batch 5, checked when it landed; batch 6 failed that check, and fails this one's.
      expect(await values((await fetcher.fetch(50n, 250_000)).records)).toEqual(offsets(50, 10));
      await expect(fetcher.fetch(60n, 250_000)).rejects.toThrow(/CRC32C does not match its bytes on any copy read/);
    } finally {
      await fetcher.close();
      await connection.close();
      await cluster.stop();
    }
  }, 60_000);
});
