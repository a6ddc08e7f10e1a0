// The storage node's check of a producer's bytes before a commit, at offsets
// a partition reaches and past the safe integers (where offsets stay bigints).
import { buildRecordBatch, setBaseOffset, writeBatchCrc, LOG_OVERHEAD } from '../format';
import { checkStoredBatches } from './batch-check';

async function batchesAt(baseOffset: bigint, counts: number[]): Promise<Buffer> {
  const batches: Buffer[] = [];
  let next = baseOffset;
  for (const count of counts) {
    const batch = await buildRecordBatch({ records: Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`) })) });
    setBaseOffset(batch, 0, next);
    batches.push(batch);
    next += BigInt(count);
  }
  return Buffer.concat(batches);
}

describe('checkStoredBatches', () => {
  const huge = 2n ** 53n - 3n; // the second batch's base offset is past Number.MAX_SAFE_INTEGER

  it.each([0n, 1_000_000_007n, huge])('passes whole batches that continue the assigned offsets from %s', async (base) => {
    const bytes = await batchesAt(base, [3, 4, 2]);
    expect(() => checkStoredBatches(bytes, { baseOffset: base, recordCount: 9 }, 'test')).not.toThrow();
  });

  it.each([0n, huge])('refuses a batch whose base offset is not the one assigned (from %s)', async (base) => {
    const bytes = await batchesAt(base, [3, 4]);
    expect(() => checkStoredBatches(bytes, { baseOffset: base + 1n, recordCount: 7 }, 'test')).toThrow(`has base offset ${base}, the broker assigned ${base + 1n}`);
    // The second batch claims an offset one past where the first ends.
    setBaseOffset(bytes, bytes.readInt32BE(8) + LOG_OVERHEAD, base + 4n);
    expect(() => checkStoredBatches(bytes, { baseOffset: base, recordCount: 7 }, 'test')).toThrow(`has base offset ${base + 4n}, the broker assigned ${base + 3n}`);
  });

  it('refuses a wrong record count, a bad CRC, a batch past the bytes and a size over the bound', async () => {
    const bytes = await batchesAt(5n, [3, 4]);
    expect(() => checkStoredBatches(bytes, { baseOffset: 5n, recordCount: 8 }, 'test')).toThrow('7 records were written, 8 were staged');
    expect(() => checkStoredBatches(bytes.subarray(0, bytes.length - 1), { baseOffset: 5n, recordCount: 7 }, 'test')).toThrow(/claims \d+ bytes but \d+ were written/);
    expect(() => checkStoredBatches(bytes, { baseOffset: 5n, recordCount: 7, batchBytesMax: 40 }, 'test')).toThrow(/over the topic's max.message.bytes 40/);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 1] ^= 0xff;
    expect(() => checkStoredBatches(damaged, { baseOffset: 5n, recordCount: 7 }, 'test')).toThrow(/batch at offset 8 has CRC32C 0x[0-9a-f]+ but its bytes give/);
    expect(() => checkStoredBatches(damaged, { baseOffset: 5n, recordCount: 7, verifyCrc: false }, 'test')).not.toThrow();
    // A CRC rewritten over a changed batch passes: the check is of the bytes as the producer framed them.
    writeBatchCrc(damaged, bytes.readInt32BE(8) + LOG_OVERHEAD, damaged.readInt32BE(bytes.readInt32BE(8) + LOG_OVERHEAD + 8));
    expect(() => checkStoredBatches(damaged, { baseOffset: 5n, recordCount: 7 }, 'test')).not.toThrow();
  });

  it('refuses bytes that are not a v2 batch header', async () => {
    const bytes = await batchesAt(0n, [1]);
    bytes[16] = 1; // magic
    expect(() => checkStoredBatches(bytes, { baseOffset: 0n, recordCount: 1 }, 'test')).toThrow(/test: .*magic/i);
  });
});
