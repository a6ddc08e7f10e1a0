import { buildRecordBatch } from './batch-builder';
import { buildSkipMarker } from './skip-marker';
import { foldProducerBatch, mergeProducerWindows, ProducerWindows, scanProducerWindows } from './producer-windows';

/** A log built batch by batch with the offsets a broker would assign. */
class TestLog {
  private readonly parts: Buffer[] = [];
  nextOffset = 0n;

  async idempotent(producerId: bigint, epoch: number, baseSequence: number, recordCount: number): Promise<void> {
    const records = Array.from({ length: recordCount }, (_, i) => ({ key: null, value: `p${producerId}-e${epoch}-s${baseSequence + i}` }));
    this.push(await buildRecordBatch({ records, producerId, producerEpoch: epoch, baseSequence, baseOffset: this.nextOffset }), recordCount);
  }

  async plain(recordCount: number): Promise<void> {
    this.push(await buildRecordBatch({ records: Array.from({ length: recordCount }, () => ({ key: null, value: 'x' })), baseOffset: this.nextOffset }), recordCount);
  }

  skip(offsetCount: number): void {
    this.push(buildSkipMarker(200, this.nextOffset, offsetCount), offsetCount);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  /** Byte positions where each batch starts. */
  get boundaries(): number[] {
    const out: number[] = [];
    let position = 0;
    for (const part of this.parts) {
      out.push(position);
      position += part.length;
    }
    return out;
  }

  private push(batch: Buffer, offsets: number): void {
    this.parts.push(batch);
    this.nextOffset += BigInt(offsets);
  }
}

const sequences = (windows: ProducerWindows, producerId: bigint) => windows.get(producerId)?.batches.map((b) => [b.firstSequence, b.lastSequence, b.baseOffset, b.lastOffset]);

describe('rebuilding idempotent producer state from batch headers', () => {
  it('tells apart producer ids beyond 2^53, which a number would merge', async () => {
    const log = new TestLog();
    // As numbers both are 2^53.
    const [a, b] = [2n ** 53n + 1n, 2n ** 53n];
    await log.idempotent(a, 1, 0, 2);
    await log.idempotent(b, 2, 0, 3);
    await log.idempotent(a, 1, 2, 1);
    const bytes = log.bytes;
    const windows: ProducerWindows = new Map(scanProducerWindows(bytes, 0, bytes.length).windows.map((w) => [w.producerId, w]));
    expect(windows.size).toBe(2);
    expect(sequences(windows, a)).toEqual([
      [0, 1, 0n, 1n],
      [2, 2, 5n, 5n],
    ]);
    expect(sequences(windows, b)).toEqual([[0, 2, 2n, 4n]]);
  });

  it('keeps each producer its epoch and last five batches with their offsets, stepping over markers and plain batches', async () => {
    const log = new TestLog();
    for (let i = 0; i < 7; i++) {
      await log.idempotent(1n, 0, i * 3, 3); // 7 batches of 3: offsets interleaved with the others below
      await log.plain(2);
      if (i === 3) log.skip(4);
      await log.idempotent(2n, 5, i, 1);
    }
    const bytes = log.bytes;
    const scan = scanProducerWindows(bytes, 0, bytes.length);
    expect(scan.stopReason).toBeUndefined();
    expect(scan.endPosition).toBe(bytes.length);
    expect(scan.batchCount).toBe(7 * 3 + 1);
    const windows: ProducerWindows = new Map(scan.windows.map((w) => [w.producerId, w]));
    expect(windows.get(1n)?.epoch).toBe(0);
    // Producer 1's batch i starts at offset 6i (+4 once the marker after i = 3 is behind).
    expect(sequences(windows, 1n)).toEqual([
      [6, 8, 12n, 14n],
      [9, 11, 18n, 20n],
      [12, 14, 28n, 30n],
      [15, 17, 34n, 36n],
      [18, 20, 40n, 42n],
    ]);
    expect(windows.get(2n)?.epoch).toBe(5);
    expect(sequences(windows, 2n)?.map(([first]) => first)).toEqual([2, 3, 4, 5, 6]);
  });

  it('a newer epoch starts the window again; an older one after it is ignored', async () => {
    const log = new TestLog();
    await log.idempotent(3n, 0, 0, 2);
    await log.idempotent(3n, 0, 2, 2);
    await log.idempotent(3n, 1, 0, 1);
    const bytes = log.bytes;
    const windows: ProducerWindows = new Map(scanProducerWindows(bytes, 0, bytes.length).windows.map((w) => [w.producerId, w]));
    expect(windows.get(3n)).toEqual({ producerId: 3n, epoch: 1, batches: [{ firstSequence: 0, lastSequence: 0, baseOffset: 4n, lastOffset: 4n }] });
    foldProducerBatch(windows, 3n, 0, { firstSequence: 4, lastSequence: 4, baseOffset: 9n, lastOffset: 9n });
    expect(windows.get(3n)?.epoch).toBe(1);
  });

  it('segment by segment, merged in order, gives what one walk over the whole log gives; a rescan changes nothing', async () => {
    const log = new TestLog();
    for (let i = 0; i < 40; i++) {
      await log.idempotent(BigInt(i % 3), i < 30 ? 0 : 1, i < 30 ? Math.floor(i / 3) : Math.floor((i - 30) / 3), 1);
      if (i % 7 === 0) await log.plain(1);
    }
    const bytes = log.bytes;
    const whole = new Map(scanProducerWindows(bytes, 0, bytes.length).windows.map((w) => [w.producerId, w]));
    const cuts = [0, log.boundaries[9], log.boundaries[20], log.boundaries[33], bytes.length];
    const merged: ProducerWindows = new Map();
    for (let i = 0; i + 1 < cuts.length; i++) mergeProducerWindows(merged, scanProducerWindows(bytes, cuts[i], cuts[i + 1]).windows);
    expect(merged).toEqual(whole);
    mergeProducerWindows(merged, scanProducerWindows(bytes, cuts[2], bytes.length).windows);
    expect(merged).toEqual(whole);
  });

  it('stops, and says where, at a header it cannot step over', async () => {
    const log = new TestLog();
    await log.idempotent(1n, 0, 0, 1);
    await log.idempotent(1n, 0, 1, 1);
    const bytes = log.bytes;
    const second = log.boundaries[1];
    bytes.writeInt32BE(3, second + 8); // batchLength below a header
    const scan = scanProducerWindows(bytes, 0, bytes.length);
    expect(scan.endPosition).toBe(second);
    expect(scan.stopReason).toMatch(new RegExp(`position ${second} has batchLength 3`));
    expect(scan.windows[0].batches).toHaveLength(1);
  });
});
